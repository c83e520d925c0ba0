"""search and find_files on real files in real git repositories, with ripgrep and with the Python fallback:
the ignore rules, identical output from both paths, errors, caps, and dispatch through the registry."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from rioagent.messages import ToolCall
from rioagent.toolcalls import parse_tool_calls
from rioagent.tools import ignore, search
from rioagent.tools.base import ToolContext, ToolError, ToolRegistry, load_specs

RG = shutil.which("rg")
# The rg half of a comparison needs ripgrep; it is installed in CI and on the dev machines.
needs_rg = pytest.mark.skipif(RG is None, reason="ripgrep (rg) is not installed")
BACKENDS = [pytest.param("rg", marks=needs_rg), "python"]


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("RIOAGENT_NO_RG", raising=False)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def write(root: Path, rel: str, data: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


TREE: dict[str, str | bytes] = {
    ".gitignore": "*.log\nbuild/\n!keep.log\n/root_only.txt\n# a comment\n\n",
    "src/.gitignore": "generated_*.py\n!generated_ok.py\n",
    "src/app.py": (
        "import os\n\nclass Parser:\n    def parse(self, text):\n        return text  # TODO: parse\n"
    ),
    "src/util/helpers.py": "def helper():\n    # todo later\n    return 'Parser'\n",
    "src/generated_x.py": "TODO generated\n",
    "src/generated_ok.py": "TODO kept\n",
    "build/out.py": "TODO built\n",
    "debug.log": "TODO log\n",
    "keep.log": "TODO keep\n",
    "root_only.txt": "TODO root\n",
    "sub/root_only.txt": "TODO sub\n",
    "excluded.txt": "TODO excluded\n",
    ".hidden.cfg": "TODO hidden\n",
    "crlf.txt": "first TODO end\r\nsecond end\r\n",
    "café/naïve.txt": "TODO ünïcode Ω\n",
    "a.txt": "TODO a\n",
    "a/b.txt": "TODO a/b\n",
    "vendor/lib/x.log": "TODO nested repo\n",
}
VISIBLE = [
    ".gitignore", ".hidden.cfg", "a/b.txt", "a.txt", "bin.dat", "café/naïve.txt", "crlf.txt", "keep.log",
    "src/.gitignore", "src/app.py", "src/generated_ok.py", "src/util/helpers.py", "sub/root_only.txt",
    "vendor/lib/x.log",
]  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text("excluded.txt\n")
    for rel, data in TREE.items():
        write(root, rel, data)
    write(root, "bin.dat", b"TODO\x00\x01binary")
    (root / "link.txt").symlink_to(root / "a.txt")  # symlinks are not followed (as ripgrep)
    (root / "linkdir").symlink_to(root / "src", target_is_directory=True)
    git(root / "vendor" / "lib", "init", "-q")  # a nested repository: the outer *.log does not reach in
    return root


@pytest.fixture
def ctx(repo: Path, tmp_path: Path) -> ToolContext:
    return ToolContext(workspace=repo, artifacts_dir=tmp_path / "artifacts")


@pytest.fixture
def both(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Run search with ripgrep and with the fallback; assert the outputs are identical; return it."""

    def run(**kwargs: object) -> str:
        outputs = []
        for no_rg in ("", "1"):
            monkeypatch.setenv("RIOAGENT_NO_RG", no_rg)
            assert (ignore.ripgrep() is None) == bool(no_rg)
            outputs.append(search.search(ctx, **kwargs).output)  # type: ignore[arg-type]
        assert outputs[0] == outputs[1], f"rg and fallback differ for {kwargs}"
        return outputs[0]

    return run


def hit_paths(output: str) -> list[str]:
    return [row.split(":")[0] for row in output.splitlines() if not row.startswith("[")]


# ---------------------------------------------------------------- ignore rules


def test_walk_honours_root_nested_negated_and_exclude_rules(repo: Path) -> None:
    assert ignore.walk_files(repo) == VISIBLE
    # git agrees, outside the nested repository (which git lists as one folder) and the symlinks
    listed = git(repo, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    listed = [p for p in listed if p and not p.startswith(("vendor/", "link"))]
    assert sorted(listed) == sorted(p for p in VISIBLE if not p.startswith("vendor/"))


@needs_rg
def test_ripgrep_lists_the_same_files(repo: Path) -> None:
    assert RG is not None
    assert ignore.rg_files(RG, repo) == ignore.walk_files(repo) == VISIBLE
    assert ignore.rg_files(RG, repo / "src") == ignore.walk_files(repo / "src")


def test_rules_from_parent_folders_apply_to_a_subfolder_walk(repo: Path) -> None:
    write(repo, "src/util/trace.log", "TODO\n")
    assert ignore.walk_files(repo / "src") == [".gitignore", "app.py", "generated_ok.py", "util/helpers.py"]


def test_rules_above_the_repository_root_do_not_apply(repo: Path, tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.txt\n*.py\n")  # outside the repository: git ignores it too
    assert ignore.walk_files(repo) == VISIBLE
    if RG is not None:
        assert ignore.rg_files(RG, repo) == VISIBLE


def test_compile_glob_follows_gitignore_syntax() -> None:
    def matches(pattern: str, rel: str, is_dir: bool = False) -> bool:
        glob = ignore.compile_glob(pattern)
        assert glob is not None
        return bool(glob.regex.match(rel)) and (is_dir or not glob.dir_only)

    assert matches("*.log", "a/b/c.log") and not matches("/x.txt", "a/x.txt")
    assert matches("doc/*.md", "doc/a.md") and not matches("doc/*.md", "doc/sub/a.md")
    assert matches("**/tmp", "a/b/tmp") and matches("a/**/z", "a/z") and matches("a/**/z", "a/b/c/z")
    assert matches("build/", "x/build", is_dir=True) and not matches("build/", "x/build")
    assert matches("file[0-9].txt", "file3.txt") and matches("*.{ts,tsx}", "a/b.tsx")
    assert ignore.compile_glob("# comment") is None and ignore.compile_glob("   ") is None


def test_search_skips_ignored_binary_and_git_files(both: Callable[..., str]) -> None:
    out = both(pattern="TODO")
    assert hit_paths(out) == [
        ".hidden.cfg", "a/b.txt", "a.txt", "café/naïve.txt", "crlf.txt", "keep.log",
        "src/app.py", "src/generated_ok.py", "sub/root_only.txt", "vendor/lib/x.log",
    ]  # fmt: skip
    assert out.splitlines()[-1] == "[10 matches in 10 file(s)]"
    assert "src/app.py:5:         return text  # TODO: parse" in out.splitlines()


# ---------------------------------------------------------------- rg and fallback agree


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pattern": "todo"},  # smart case: lower case ignores case
        {"pattern": "TODO", "case_sensitive": False},
        {"pattern": "Parser"},
        {"pattern": "parser", "case_sensitive": True},
        {"pattern": r"def \w+\(", "glob": "*.py"},
        {"pattern": "TODO", "glob": "src/**/*.py"},
        {"pattern": "TODO", "glob": "*.{txt,cfg}"},
        {"pattern": "TODO", "path": "src"},
        {"pattern": "return", "path": "src/app.py", "context": 2},
        {"pattern": "TODO|return", "context": 1, "max_results": 4},
        {"pattern": "end$"},  # CRLF endings count as line ends
        {"pattern": "Ω|ünï"},
        {"pattern": "^$"},
        {"pattern": r"return \'Parser\'|\_\_|\"|\/"},  # escapes rg 13 refuses but means the same
        {"pattern": "no such text anywhere"},
    ],
)
def test_ripgrep_and_fallback_give_identical_output(
    both: Callable[..., str], kwargs: dict[str, object]
) -> None:
    out = both(**kwargs)
    assert out.strip()


def test_smart_case_and_context_format(both: Callable[..., str]) -> None:
    assert hit_paths(both(pattern="parse")) == ["src/app.py"] * 3 + ["src/util/helpers.py"]
    assert hit_paths(both(pattern="Parse")) == ["src/app.py", "src/util/helpers.py"]
    assert hit_paths(both(pattern="Parse", case_sensitive=False)) == hit_paths(both(pattern="parse"))
    out = both(pattern="return", path="src", context=1)
    assert out.splitlines() == [
        "src/app.py-4-     def parse(self, text):",
        "src/app.py:5:         return text  # TODO: parse",
        "--",
        "src/util/helpers.py-2-     # todo later",
        "src/util/helpers.py:3:     return 'Parser'",
        "[2 matches in 2 file(s)]",
    ]
    assert both(pattern="end$").splitlines()[:2] == ["crlf.txt:1: first TODO end", "crlf.txt:2: second end"]


def test_identical_on_a_larger_generated_tree(ctx: ToolContext, both: Callable[..., str]) -> None:
    for i in range(60):
        body = "".join(f"value_{i}_{j} = {j}  # marker {'X' * (j % 7)}\n" for j in range(40))
        write(ctx.workspace, f"pkg/m{i % 6}/mod_{i}.py", body)
    write(ctx.workspace, "pkg/.gitignore", "m5/\n")
    out = both(pattern=r"marker X{3}$", max_results=30)
    assert len(hit_paths(out)) == 30 and not any("/m5/" in p for p in hit_paths(out))
    # 50 files not ignored, 6 matching lines each (j % 7 == 3), 30 shown
    assert out.splitlines()[-1] == "[270 more matches not shown; narrow the pattern or path, or use glob]"


def test_identical_when_the_count_limit_stops_early(
    ctx: ToolContext, both: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Names whose order differs between "sort the whole path" and "sort folder by folder" (rg --sort path):
    # both backends must stop after the same files.
    names = ["a/z.txt", "a.txt", "a-b/c.txt", "a_b.txt", "B/x.txt", "b.txt", "ä.txt", "A1/y.txt", "a0/q.txt"]
    for name in names:
        write(ctx.workspace, f"order/{name}", "hit\n" * 3)
    monkeypatch.setattr(search, "COUNT_LIMIT", 7)
    out = both(pattern="hit", path="order", max_results=100)
    assert hit_paths(out) == ["order/A1/y.txt"] * 3 + ["order/B/x.txt"] * 3 + ["order/a/z.txt"] * 3
    assert out.splitlines()[-1] == "[more matches may exist: stopped after 9; narrow the pattern or path]"
    monkeypatch.setattr(search, "COUNT_LIMIT", 10_000)
    assert hit_paths(both(pattern="hit", path="order"))[::3] == [
        "order/A1/y.txt", "order/B/x.txt", "order/a/z.txt", "order/a-b/c.txt", "order/a.txt",
        "order/a0/q.txt", "order/a_b.txt", "order/b.txt", "order/ä.txt",
    ]  # fmt: skip


# ---------------------------------------------------------------- errors and caps


@pytest.mark.parametrize("no_rg", ["", "1"])
@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("foo(", "invalid regex 'foo\\(': missing \\), unterminated subpattern"),
        ("[a-", "invalid regex"),
        ("(?<=x)y", "look-around"),
        (r"(a)\1", "backreferences"),
        ("a\\nb", "within one line"),
        ("[[:alpha:]]+", "POSIX classes"),
        (r"\<word\>", "use \\\\b"),
        ("(?a)x", r"the \(\?a\) and \(\?L\) flags"),
        (r"\p{L}", "bad escape"),
        ("[[]", "inside a character class"),
        ("a{,3}", "write {0,n}"),
        ("(?#note)x", "comments"),
        (r"\N{DIGIT ONE}", "names"),
        ("", "pattern is empty"),
    ],
)
def test_bad_patterns_are_refused_the_same_way(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch, no_rg: str, pattern: str, message: str
) -> None:
    if not no_rg and RG is None:
        pytest.skip("ripgrep (rg) is not installed")
    monkeypatch.setenv("RIOAGENT_NO_RG", no_rg)
    with pytest.raises(ToolError, match=message):
        search.search(ctx, pattern)


@pytest.mark.parametrize("backend", BACKENDS)
def test_caps_long_lines_and_at_least(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("RIOAGENT_NO_RG", "1" if backend == "python" else "")
    write(ctx.workspace, "many.txt", "".join(f"hit {i}\n" for i in range(120)))
    out = search.search(ctx, "hit", path="many.txt", max_results=5).output.splitlines()
    assert out == [f"many.txt:{i + 1}: hit {i}" for i in range(5)] + [
        "[115 more matches not shown; narrow the pattern or path, or use glob]"
    ]
    monkeypatch.setattr(search, "COUNT_LIMIT", 50)
    out = search.search(ctx, "hit", path="many.txt", max_results=5).output.splitlines()
    assert out[-1].startswith("[at least 115 more matches")
    write(ctx.workspace, "min.js", "x" * 4000 + "NEEDLE" + "y" * 1000 + "\n")
    row = search.search(ctx, "NEEDLE", path="min.js").output.splitlines()[0]
    assert "NEEDLE" in row and row.endswith("[line truncated: 5006 chars]")
    assert len(row) < search.MAX_LINE_CHARS + 60
    with pytest.raises(ToolError, match="max_results must be between 1 and 500"):
        search.search(ctx, "hit", max_results=0)
    with pytest.raises(ToolError, match="context must be between 0 and 10"):
        search.search(ctx, "hit", context=11)


def test_paths_outside_the_workspace_are_refused(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("TODO secret\n")
    for path in ("..", "../secret.txt", str(tmp_path), "/etc"):
        with pytest.raises(ToolError, match="outside the workspace"):
            search.search(ctx, "TODO", path=path)
        with pytest.raises(ToolError, match="outside the workspace"):
            search.find_files(ctx, "*", path=path)
    with pytest.raises(ToolError, match="does not exist"):
        search.search(ctx, "TODO", path="nope")
    with pytest.raises(ToolError, match="binary file"):
        search.search(ctx, "TODO", path="bin.dat")


def test_big_files_are_skipped_with_a_note(
    ctx: ToolContext, both: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "MAX_FILE_BYTES", 30)
    write(ctx.workspace, "big/huge.txt", "TODO " * 20 + "\n")
    write(ctx.workspace, "big/small.txt", "TODO\n")
    out = both(pattern="TODO", path="big")
    assert out.splitlines() == [
        "big/small.txt:1: TODO",
        "[1 match in 1 file(s)]",
        "[1 file(s) over 0 MB not searched: big/huge.txt]",
    ]


def test_ripgrep_missing_is_detected(monkeypatch: pytest.MonkeyPatch, ctx: ToolContext) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert ignore.ripgrep() is None
    assert hit_paths(search.search(ctx, "Parser").output) == ["src/app.py", "src/util/helpers.py"]


# ---------------------------------------------------------------- find_files


@pytest.mark.parametrize("backend", BACKENDS)
def test_find_files_globs(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setenv("RIOAGENT_NO_RG", "1" if backend == "python" else "")
    find = search.find_files
    assert find(ctx, "*.py").splitlines() == ["src/app.py", "src/generated_ok.py", "src/util/helpers.py"]
    assert find(ctx, "src/**/*.py", path=".") == find(ctx, "*.py")
    assert find(ctx, "**/*.py", path="src/util") == "src/util/helpers.py"
    assert find(ctx, "*help*").splitlines() == ["src/util/helpers.py"]
    assert find(ctx, "*.{log,cfg}").splitlines() == [".hidden.cfg", "keep.log", "vendor/lib/x.log"]
    assert find(ctx, "util").splitlines() == ["src/util/helpers.py"]  # a folder name: everything in it
    assert find(ctx, "*.txt", max_results=2).splitlines() == [
        "a/b.txt",
        "a.txt",
        "[3 more files not shown; narrow the pattern or path]",
    ]
    assert find(ctx, "*.rs").startswith("No files match '*.rs' under .")
    with pytest.raises(ToolError, match="is a file; give the folder"):
        find(ctx, "*.py", path="src/app.py")
    with pytest.raises(ToolError, match="not a usable glob"):
        find(ctx, "!*.py")


# ---------------------------------------------------------------- through the registry


def test_tools_are_registered_read_only_and_dispatch(ctx: ToolContext) -> None:
    specs = load_specs(["search", "find_files", "outline"])
    assert {s.name: (s.access, s.handler) for s in specs} == {
        "search": ("read", "search:search"),
        "find_files": ("read", "search:find_files"),
        "outline": ("read", "outline:outline"),
    }
    assert {"search", "find_files", "outline"} <= {s.name for s in load_specs()}  # the agent's default set
    registry = ToolRegistry(specs)
    result = registry.run(
        ctx, ToolCall(id="1", name="search", arguments={"pattern": "class \\w+", "glob": "*.py"})
    )
    assert not result.is_error and result.output.splitlines()[0] == "src/app.py:3: class Parser:"
    found = registry.run(
        ctx, ToolCall(id="2", name="find_files", arguments={"pattern": "*.py", "path": "src"})
    )
    assert found.output.splitlines()[0] == "src/app.py"
    bad = registry.run(ctx, ToolCall(id="3", name="search", arguments={"pattern": "("}))
    assert bad.is_error and bad.output.startswith("search: invalid regex")
    # from the model's own wire format: values arrive as text and are typed by the YAML schema
    xml = (
        "<tool_call>\n<function=search>\n<parameter=pattern>\nreturn\n</parameter>\n"
        "<parameter=case_sensitive>\ntrue\n</parameter>\n<parameter=context>\n1\n</parameter>\n"
        "<parameter=path>\nsrc/app.py\n</parameter>\n</function>\n</tool_call>"
    )
    parsed = parse_tool_calls(xml, registry.schemas()).calls[0]
    assert parsed.arguments["context"] == 1 and parsed.arguments["case_sensitive"] is True
    assert registry.run(ctx, parsed).output.splitlines()[:2] == [
        "src/app.py-4-     def parse(self, text):",
        "src/app.py:5:         return text  # TODO: parse",
    ]
    outline = registry.run(ctx, ToolCall(id="4", name="outline", arguments={"path": "src/app.py"}))
    assert outline.output.splitlines() == ["    3  class Parser", "    4    def parse(self, text)"]


def test_escaped_backslashes_are_not_constructs(ctx: ToolContext, both: Callable[..., str]) -> None:
    write(ctx.workspace, "esc.c", 'printf("a\\nb");\nchar *s = "\\\\1";\n')
    assert both(pattern=r"\\n", path="esc.c").splitlines()[0] == 'esc.c:1: printf("a\\nb");'
    assert both(pattern=r"\\\\1", path="esc.c").splitlines()[0] == 'esc.c:2: char *s = "\\\\1";'
