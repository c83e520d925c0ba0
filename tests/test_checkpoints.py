"""Checkpoints against real git repositories (and plain folders) in tmp dirs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from rioagent.checkpoints import CheckpointError, Checkpoints


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No user/system config may leak in (signing, hooks paths, excludes); a fixed identity for test commits.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    for key, value in {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }.items():
        monkeypatch.setenv(key, value)


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input, check=False)
    assert result.returncode == 0, f"git {args}: {result.stderr.decode()}"
    return result.stdout.decode()


def files(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file under root (outside .git): path -> (content, executable)."""
    out = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if rel == ".git" or rel.startswith(".git/") or not path.is_file():
            continue
        out[rel] = (path.read_bytes(), bool(path.stat().st_mode & stat.S_IXUSR))
    return out


def write(root: Path, rel: str, text: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, "a.txt", "alpha\n")
    write(root, "b.txt", "bravo\n")
    write(root, "run.sh", "#!/bin/sh\necho hi\n")
    write(root, "dir/c.txt", "charlie\n")
    write(root, ".gitignore", "*.log\nbuild/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def cps(root: Path, tmp_path: Path, sid: str = "s1") -> Checkpoints:
    return Checkpoints(root, sid, state_dir=tmp_path / "state")


def test_round_trip_edits_creates_deletes_renames_modes(repo: Path, tmp_path: Path) -> None:
    cp = cps(repo, tmp_path)
    cp.start()
    states = {0: files(repo)}

    write(repo, "a.txt", "alpha 1\n")
    write(repo, "new/n.txt", "new\n")
    assert cp.snapshot(1)
    states[1] = files(repo)

    (repo / "b.txt").unlink()
    (repo / "dir/c.txt").rename(repo / "dir/d.txt")
    os.chmod(repo / "run.sh", 0o755)
    assert cp.snapshot(2)
    states[2] = files(repo)

    write(repo, "a.txt", "alpha 3\n")
    write(repo, "with space ü 日本.txt", "unicode\n")
    assert cp.snapshot(3)
    states[3] = files(repo)
    assert [n for n, _ in cp.steps()] == [1, 2, 3]

    restored = cp.restore(1)
    assert files(repo) == states[1]
    assert set(restored) == {"a.txt", "b.txt", "dir/c.txt", "dir/d.txt", "run.sh", "with space ü 日本.txt"}
    assert not (repo / "run.sh").stat().st_mode & stat.S_IXUSR

    cp.restore(3)
    assert files(repo) == states[3]
    cp.restore(2)
    assert files(repo) == states[2]
    cp.restore("base")
    assert files(repo) == states[0]
    assert not (repo / "new").exists(), "a folder emptied by the restore is removed"
    cp.restore("pre-restore")  # the undo of the undo
    assert files(repo) == states[2]


def test_user_head_branch_index_and_stash_untouched(repo: Path, tmp_path: Path) -> None:
    write(repo, "a.txt", "stashed\n")
    git(repo, "stash", "-q")
    write(repo, "a.txt", "staged\n")
    git(repo, "add", "a.txt")
    write(repo, "a.txt", "staged then edited\n")  # index and work tree differ

    def user_state() -> tuple[str, ...]:
        return (
            git(repo, "rev-parse", "HEAD"),
            git(repo, "symbolic-ref", "HEAD"),
            git(repo, "diff", "--cached"),
            git(repo, "ls-files", "-s"),
            git(repo, "stash", "list"),
            git(repo, "for-each-ref", "refs/heads", "refs/tags", "refs/stash"),
        )

    before = user_state()
    index_bytes = (repo / ".git/index").read_bytes()
    cp = cps(repo, tmp_path)
    cp.start()
    write(repo, "b.txt", "changed\n")
    write(repo, "z.txt", "created\n")
    cp.snapshot(1)
    cp.restore(0)
    cp.patch()
    assert user_state() == before
    assert (repo / ".git/index").read_bytes() == index_bytes
    assert (repo / "a.txt").read_text() == "staged then edited\n"
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/rioagent").split() == [
        "refs/rioagent/s1/base",
        "refs/rioagent/s1/pre-restore",
        "refs/rioagent/s1/step-1",
    ]


def test_uncommitted_changes_at_start_are_in_base_not_in_patch(repo: Path, tmp_path: Path) -> None:
    write(repo, "a.txt", "user's own edit\n")
    write(repo, "user-new.txt", "user's new file\n")
    cp = cps(repo, tmp_path)
    cp.start()
    write(repo, "b.txt", "agent edit\n")
    cp.snapshot(1)
    patch = cp.patch()
    assert "b/b.txt" in patch and "agent edit" in patch
    assert "a.txt" not in patch and "user-new.txt" not in patch
    cp.restore(0)
    assert (repo / "a.txt").read_text() == "user's own edit\n"
    assert (repo / "user-new.txt").exists()
    assert (repo / "b.txt").read_text() == "bravo\n"


def test_ignored_files_never_captured_or_deleted(repo: Path, tmp_path: Path) -> None:
    write(repo, "old.log", "present at start\n")
    write(repo, "tracked.log", "tracked although ignored\n")
    git(repo, "add", "-f", "tracked.log")
    cp = cps(repo, tmp_path)
    cp.start()
    write(repo, "tracked.log", "tracked files are captured\n")
    write(repo, "old.log", "changed later\n")
    write(repo, "new.log", "created later\n")
    write(repo, "build/out.bin", b"\x00\x01")
    write(repo, "a.txt", "edited\n")
    cp.snapshot(1)
    assert cp.changed_paths("base") == ["a.txt", "tracked.log"]
    assert "old.log" not in cp.patch() and "new.log" not in cp.patch() and "build" not in cp.patch()
    assert cp.restore(0) == ["a.txt", "tracked.log"]
    assert (repo / "tracked.log").read_text() == "tracked although ignored\n"
    assert (repo / "old.log").read_text() == "changed later\n"
    assert (repo / "new.log").exists() and (repo / "build/out.bin").exists()


def test_unchanged_snapshot_returns_none_and_changed_paths(repo: Path, tmp_path: Path) -> None:
    cp = cps(repo, tmp_path)
    base = cp.start()
    assert cp.start() == base, "start is idempotent (a resumed session keeps its base)"
    assert cp.snapshot(1) is None
    assert cp.changed_paths() == []
    write(repo, "a.txt", "x\n")
    assert cp.changed_paths() == ["a.txt"]
    first = cp.snapshot(1)
    assert first is not None and cp.snapshot(2) is None
    assert cp.steps() == [(1, first)]
    write(repo, "b.txt", "y\n")
    assert cp.changed_paths() == ["b.txt"]
    assert cp.changed_paths(since="base") == ["a.txt", "b.txt"]
    assert cp.ref(1) == "refs/rioagent/s1/step-1" and cp.ref(0) == "refs/rioagent/s1/base"


def test_reusing_a_step_number_drops_later_steps(repo: Path, tmp_path: Path) -> None:
    cp = cps(repo, tmp_path)
    cp.start()
    for n in (1, 2, 3):
        write(repo, "a.txt", f"v{n}\n")
        cp.snapshot(n)
    cp.restore(1)
    write(repo, "a.txt", "another timeline\n")
    cp.snapshot(2)
    assert [n for n, _ in cp.steps()] == [1, 2]


def test_empty_repo_without_commits(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q")
    write(root, "f.txt", "one\n")
    cp = cps(root, tmp_path)
    cp.start()
    write(root, "f.txt", "two\n")
    write(root, "g.txt", "new\n")
    assert cp.snapshot(1)
    assert cp.restore(0) == ["f.txt", "g.txt"]
    assert files(root) == {"f.txt": (b"one\n", False)}
    assert git(root, "status", "--porcelain") == "?? f.txt\n"  # still no commit, nothing staged


def test_non_git_workspace_uses_shadow_repo(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, "a.txt", "a\n")
    write(root, "pkg/__pycache__/m.pyc", b"\x00")
    listing = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    cp = cps(root, tmp_path)
    assert cp.shadow
    cp.start()
    write(root, "a.txt", "b\n")
    write(root, "x y.txt", "new\n")
    cp.snapshot(1)
    assert cp.changed_paths("base") == ["a.txt", "x y.txt"]
    cp.restore(0)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == listing
    assert (root / "a.txt").read_text() == "a\n"
    assert not (root / ".git").exists()
    shadow = list((tmp_path / "state" / "shadow").glob("*.git"))
    assert len(shadow) == 1
    assert git(root, "--git-dir", str(shadow[0]), "for-each-ref", "--format=%(refname)").split() == [
        "refs/rioagent/s1/base",
        "refs/rioagent/s1/pre-restore",
        "refs/rioagent/s1/step-1",
    ]


def test_default_state_dir_is_used(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, "a.txt", "a\n")
    Checkpoints(root, "s1").start()
    assert list((tmp_path / "xdg-state" / "rioagent" / "shadow").glob("*.git"))


def test_patch_applies_on_clean_base_checkout(repo: Path, tmp_path: Path) -> None:
    write(repo, "img.bin", bytes(range(256)))
    git(repo, "add", "img.bin")
    git(repo, "commit", "-q", "-m", "binary")
    cp = cps(repo, tmp_path)
    base = cp.start()
    write(repo, "a.txt", "alpha edited\n")
    (repo / "b.txt").unlink()
    write(repo, "img.bin", bytes(reversed(range(256))))
    write(repo, "new/blob.bin", b"\x00\xff" * 100)
    write(repo, "new/ü s.txt", "unicode and space\n")
    os.chmod(repo / "run.sh", 0o755)
    cp.snapshot(1)
    write(repo, "dir/c.txt", "charlie 2\n")  # not yet snapshotted: the patch still sees it
    write(repo, "debug.log", "ignored\n")
    patch = cp.patch()
    assert "GIT binary patch" in patch and "new mode 100755" in patch

    clean = tmp_path / "clean"
    clean.mkdir()
    git(clean, "init", "-q")
    archive = subprocess.run(["git", "archive", base], cwd=repo, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(clean)], input=archive, check=True)
    git(clean, "apply", input=patch.encode())
    expected = {k: v for k, v in files(repo).items() if k != "debug.log"}
    assert files(clean) == expected


def test_patch_excludes_paths_and_globs(repo: Path, tmp_path: Path) -> None:
    cp = cps(repo, tmp_path)
    cp.start()
    write(repo, "a.txt", "keep\n")
    write(repo, "dir/c.txt", "drop by folder\n")
    write(repo, "notes.orig", "drop by glob\n")
    write(repo, "tests/test_x.py", "drop by path\n")
    patch = cp.patch(exclude=["dir", "*.orig", "tests/test_x.py"])
    assert "b/a.txt" in patch
    for name in ("c.txt", "notes.orig", "test_x.py"):
        assert name not in patch


def test_workspace_in_a_subfolder_of_the_repo(repo: Path, tmp_path: Path) -> None:
    write(repo, "pkg/mod.py", "x = 1\n")
    write(repo, "pkg/kept.log", "tracked although ignored\n")
    git(repo, "add", "-A")
    git(repo, "add", "-f", "pkg/kept.log")
    git(repo, "commit", "-q", "-m", "pkg")
    ws = repo / "pkg"
    cp = cps(ws, tmp_path)
    assert not cp.shadow
    base = cp.start()
    write(ws, "mod.py", "x = 2\n")
    write(ws, "sub/new.py", "y = 1\n")
    write(ws, "trace.log", "ignored by the repo root's .gitignore\n")
    write(repo, "a.txt", "outside the workspace\n")
    write(ws, "kept.log", "edited\n")
    cp.snapshot(1)
    assert cp.changed_paths("base") == ["kept.log", "mod.py", "sub/new.py"]
    assert git(repo, "ls-tree", "-r", "--name-only", base).split() == ["pkg/kept.log", "pkg/mod.py"]
    patch = cp.patch()
    assert "a/pkg/mod.py" in patch and "a.txt" not in patch and "trace.log" not in patch
    assert "new.py" not in cp.patch(exclude=["sub"]), "excludes are relative to the workspace"

    clean = tmp_path / "clean"
    clean.mkdir()
    git(clean, "init", "-q")
    archive = subprocess.run(["git", "archive", base], cwd=repo, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(clean)], input=archive, check=True)
    git(clean / "pkg", "apply", input=patch.encode())  # from the workspace's folder, as from the root
    assert (clean / "pkg/mod.py").read_text() == "x = 2\n"
    assert (clean / "pkg/sub/new.py").read_text() == "y = 1\n"

    assert cp.restore(0) == ["kept.log", "mod.py", "sub/new.py"]
    assert (ws / "mod.py").read_text() == "x = 1\n" and not (ws / "sub").exists()
    assert (repo / "a.txt").read_text() == "outside the workspace\n"
    assert (ws / "trace.log").exists()


def test_many_files_snapshot_quickly(repo: Path, tmp_path: Path) -> None:
    for i in range(3000):
        write(repo, f"many/{i // 100}/f{i}.txt", f"{i}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "many")
    cp = cps(repo, tmp_path)
    cp.start()
    write(repo, "many/7/f777.txt", "changed\n")
    (repo / "many/8/f888.txt").unlink()
    began = time.monotonic()
    assert cp.snapshot(1)
    assert time.monotonic() - began < 5
    assert cp.changed_paths("base") == ["many/7/f777.txt", "many/8/f888.txt"]
    cp.restore(0)
    assert (repo / "many/8/f888.txt").read_text() == "888\n"


def test_errors_say_what_to_do(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="cannot name a git ref"):
        Checkpoints(repo, "bad name/..", state_dir=tmp_path)
    cp = cps(repo, tmp_path)
    with pytest.raises(CheckpointError, match=r"call start\(\) first"):
        cp.snapshot(1)
    cp.start()
    with pytest.raises(CheckpointError, match="no checkpoint 7"):
        cp.restore(7)
    with pytest.raises(CheckpointError, match="positive integer"):
        cp.snapshot(0)


def test_drop_removes_refs(repo: Path, tmp_path: Path) -> None:
    cp = cps(repo, tmp_path)
    cp.start()
    write(repo, "a.txt", "x\n")
    cp.snapshot(1)
    cp.drop()
    assert git(repo, "for-each-ref", "refs/rioagent") == ""
    assert not cp.index_file.exists()


def test_restore_over_file_folder_swaps_and_newly_ignored_files(repo: Path, tmp_path: Path) -> None:
    cp = cps(repo, tmp_path)
    cp.start()
    (repo / "b.txt").unlink()
    write(repo, "b.txt/inside.txt", "a folder where a file was\n")
    shutil.rmtree(repo / "dir")
    write(repo, "dir", "a file where a folder was\n")
    (repo / "a.txt").unlink()
    write(repo, ".gitignore", "*.log\nbuild/\na.txt\n")
    cp.snapshot(1)
    write(repo, "a.txt", "recreated, now ignored\n")
    assert "a.txt" not in cp.changed_paths()
    cp.restore(0)
    assert (repo / "b.txt").read_text() == "bravo\n"
    assert (repo / "dir/c.txt").read_text() == "charlie\n"
    assert (repo / "a.txt").read_text() == "alpha\n"
    cp.restore(1)
    assert (repo / "dir").read_text() == "a file where a folder was\n"
    assert (repo / "b.txt/inside.txt").exists()


def test_workspace_ignored_by_enclosing_repo_gets_a_shadow(repo: Path, tmp_path: Path) -> None:
    ws = repo / "build" / "scratch"
    write(ws, "f.txt", "x\n")
    cp = cps(ws, tmp_path)
    assert cp.shadow
    cp.start()
    write(ws, "f.txt", "y\n")
    assert cp.changed_paths() == ["f.txt"]
    assert git(repo, "for-each-ref", "refs/rioagent") == ""


def test_changed_paths_since_a_commit_of_the_user(repo: Path, tmp_path: Path) -> None:
    cp = cps(repo, tmp_path)
    cp.start()
    write(repo, "b.txt", "changed\n")
    assert cp.changed_paths(since="HEAD") == ["b.txt"]
    assert cp.changed_paths(since="step-1" if cp.snapshot(1) else "base") == []


def test_state_dir_inside_the_workspace_is_never_captured(repo: Path) -> None:
    # Running in $HOME puts ~/.local/state/rioagent inside the workspace: our own index must stay out.
    cp = Checkpoints(repo, "s1", state_dir=repo / ".local" / "state" / "rioagent")
    cp.start()
    write(repo, "a.txt", "changed\n")
    assert cp.snapshot(1)
    patch = cp.patch()
    assert "a.txt" in patch
    assert ".local" not in patch
    assert cp.changed_paths("base") == ["a.txt"]
