"""The read-only git tool, through the registry and its YAML spec, against real repositories."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rioagent.messages import ToolCall
from rioagent.resources import data_dir
from rioagent.tools.base import ToolContext, ToolRegistry, ToolResult, load_specs
from rioagent.tools.git import MAX_CHARS


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Tess Ter")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tess@example.com")
        monkeypatch.setenv(f"GIT_{role}_DATE", "2024-05-06T07:08:09Z")


def sh_git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def registry(tmp_path: Path) -> ToolRegistry:
    # Only this tool's spec, so other tools' YAML cannot break these tests.
    folder = tmp_path / "specs"
    folder.mkdir()
    shutil.copy(data_dir("tools") / "git.yaml", folder / "git.yaml")
    specs = load_specs(["git"], folder=folder)
    assert specs[0].access == "read" and specs[0].handler == "git:git"
    return ToolRegistry(specs)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    sh_git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("one\n")
    (root / "b.txt").write_text("bee\n")
    sh_git(root, "add", "-A")
    sh_git(root, "commit", "-q", "-m", "first commit")
    (root / "a.txt").write_text("one\ntwo\n")
    sh_git(root, "commit", "-q", "-am", "second commit")
    return root


def ctx_for(root: Path, tmp_path: Path) -> ToolContext:
    return ToolContext(workspace=root, artifacts_dir=tmp_path / "artifacts")


def call(registry: ToolRegistry, ctx: ToolContext, **arguments: object) -> ToolResult:
    return registry.run(ctx, ToolCall(id="c1", name="git", arguments=dict(arguments)))


def test_status_shows_branch_and_changes(registry: ToolRegistry, repo: Path, tmp_path: Path) -> None:
    ctx = ctx_for(repo, tmp_path)
    clean = call(registry, ctx, command="status")
    assert not clean.is_error
    assert "## main" in clean.output and "working tree clean" in clean.output
    (repo / "a.txt").write_text("changed\n")
    (repo / "new file ü.txt").write_text("x\n")
    out = call(registry, ctx, command="status").output
    assert " M a.txt" in out and '?? "new file ü.txt"' in out
    index_before = (repo / ".git/index").read_bytes()
    call(registry, ctx, command="status")
    assert (repo / ".git/index").read_bytes() == index_before, "status must not refresh the index"


def test_diff_working_tree_and_staged(registry: ToolRegistry, repo: Path, tmp_path: Path) -> None:
    ctx = ctx_for(repo, tmp_path)
    assert "no changes" in call(registry, ctx, command="diff").output
    (repo / "a.txt").write_text("one\ntwo\nthree\n")
    sh_git(repo, "add", "a.txt")
    (repo / "b.txt").write_text("bee edited\n")
    (repo / "c.txt").write_text("untracked\n")
    out = call(registry, ctx, command="diff").output
    assert "+three" in out and "+bee edited" in out, "staged and unstaged changes, both against HEAD"
    assert "Untracked files" in out and "c.txt" in out
    assert "\x1b[" not in out
    staged = call(registry, ctx, command="diff", staged=True).output
    assert "+three" in staged and "bee edited" not in staged
    only_b = call(registry, ctx, command="diff", path="b.txt").output
    assert "b.txt" in only_b and "a.txt" not in only_b


def test_log_and_show(registry: ToolRegistry, repo: Path, tmp_path: Path) -> None:
    ctx = ctx_for(repo, tmp_path)
    log = call(registry, ctx, command="log").output.splitlines()
    assert len(log) == 2
    assert log[0].endswith("2024-05-06 Tess Ter: second commit") and "first commit" in log[1]
    assert len(call(registry, ctx, command="log", limit=1).output.splitlines()) == 1
    assert "first commit" in call(registry, ctx, command="log", path="b.txt").output

    show = call(registry, ctx, command="show").output
    assert "second commit" in show and "+two" in show and "a.txt | 1 +" in show
    first = call(registry, ctx, command="show", revision="HEAD~1").output
    assert "first commit" in first and "+bee" in first
    assert call(registry, ctx, command="show HEAD~1:b.txt").output == "bee\n"
    bad = call(registry, ctx, command="show", revision="--output=/tmp/x")
    assert bad.is_error and "revision must be" in bad.output
    missing = call(registry, ctx, command="show", revision="nope")
    assert missing.is_error and "git show failed" in missing.output


def test_long_output_is_capped_and_saved(registry: ToolRegistry, repo: Path, tmp_path: Path) -> None:
    ctx = ctx_for(repo, tmp_path)
    (repo / "big.txt").write_text("".join(f"line {i} of a long file\n" for i in range(5000)))
    sh_git(repo, "add", "big.txt")
    out = call(registry, ctx, command="diff", staged=True).output
    assert len(out) < MAX_CHARS + 500
    assert "[output truncated" in out
    saved = next((tmp_path / "artifacts").glob("git-diff-*.txt"))
    assert "line 4999 of a long file" in saved.read_text()


def test_refuses_writing_subcommands_and_extra_options(
    registry: ToolRegistry, repo: Path, tmp_path: Path
) -> None:
    ctx = ctx_for(repo, tmp_path)
    push = call(registry, ctx, command="push origin main")
    assert push.is_error and "bash tool" in push.output and "git push origin main" in push.output
    assert call(registry, ctx, command="commit").is_error
    extra = call(registry, ctx, command="log --all")
    assert extra.is_error and "parameters" in extra.output
    assert call(registry, ctx, command="").is_error
    outside = call(registry, ctx, command="diff", path="../elsewhere")
    assert outside.is_error and "outside the workspace" in outside.output


def test_outside_a_repository(registry: ToolRegistry, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    result = call(registry, ctx_for(plain, tmp_path), command="status")
    assert result.is_error and "not inside a git repository" in result.output


def test_repository_without_commits(registry: ToolRegistry, tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    sh_git(root, "init", "-q", "-b", "main")
    (root / "f.txt").write_text("hello\n")
    sh_git(root, "add", "f.txt")
    ctx = ctx_for(root, tmp_path)
    assert "no commits yet" in call(registry, ctx, command="log").output
    assert "+hello" in call(registry, ctx, command="diff").output
    assert "No commits yet" in call(registry, ctx, command="status").output
