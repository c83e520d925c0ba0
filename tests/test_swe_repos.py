"""Small SWE-bench-style repositories built in the test (a bug, its fix, tests that show it), the instances
file in the official format, and tests of the workspaces made from them.

The builders here are shared by the other tests/test_swe_*.py files.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rioagent.swe.instances import load_instances
from rioagent.swe.workspace import create_workspace, find_local_source, model_patch

CALC_BASE = {
    "calc.py": "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a + b\n\n\n"
    "def sub(a, b):\n    return a - b\n",
    "tests/__init__.py": "",
    "tests/test_calc.py": "from calc import sub\n\n\ndef test_sub():\n    assert sub(5, 3) == 2\n",
    "README.md": "calc\n",
}
CALC_FIX = {
    "calc.py": CALC_BASE["calc.py"]
    .replace("a - b\n\n\ndef mul", "a + b\n\n\ndef mul")
    .replace("return a + b\n\n\ndef sub", "return a * b\n\n\ndef sub")
}
CALC_TESTS = {
    "tests/test_calc.py": "import pytest\n\nfrom calc import add, mul, sub\n\n\ndef test_sub():\n"
    "    assert sub(5, 3) == 2\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
    '@pytest.mark.parametrize("a,b,want", [(2, 3, 6), (0, 0, 0)], ids=["two by three", "zero"])\n'
    "def test_mul(a, b, want):\n    assert mul(a, b) == want\n",
    "tests/data/cases.json": '{"cases": 2}\n',
}
# add fixed, mul not: FAIL_TO_PASS partly passes.
CALC_HALF = (
    "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,5 +1,5 @@\n def add(a, b):\n"
    "-    return a - b\n+    return a + b\n \n \n def mul(a, b):\n"
)

WORDS_BASE = {
    "words.py": "def shout(text):\n    return text.upper()\n\n\ndef count(text):\n    return len(text)\n",
    "test_words.py": "from words import shout\n\n\ndef test_shout():\n    assert shout('a') == 'A'\n",
}
WORDS_FIX = {"words.py": WORDS_BASE["words.py"].replace("len(text)", "len(text.split())")}
WORDS_TESTS = {
    "test_words.py": WORDS_BASE["test_words.py"] + "\n\ndef test_count():\n    assert count('a b c') == 3\n",
}
WORDS_TESTS["test_words.py"] = WORDS_TESTS["test_words.py"].replace(
    "from words import shout", "from words import count, shout"
)

# The test environment for these repositories: this Python and its pytest, nothing to install. Plugin
# autoload is off: the host's plugins (textual snapshots, asyncio) cost seconds per run and test nothing here.
ENV_TABLE = """
_local: &local
  python: current
  inherit_host: true
  install: ""
  instance_install: ""
  runner: pytest
  env: {PYTEST_DISABLE_PLUGIN_AUTOLOAD: "1"}
rio-test/calc:
  default: *local
rio-test/words:
  default: *local
"""


def sh(*args: str, cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _commit(root: Path, message: str) -> str:
    sh("git", "add", "-A", cwd=root)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message, cwd=root)
    return sh("git", "rev-parse", "HEAD", cwd=root)


@dataclass
class Built:
    record: dict[str, Any]  # the instance, official format
    path: Path


def build_repo(
    repos_dir: Path,
    repo: str,
    base: dict[str, str],
    fix: dict[str, str],
    tests: dict[str, str],
    fail_to_pass: list[str],
    pass_to_pass: list[str],
    number: int = 1,
    bare: bool = False,
) -> Built:
    """A repository with the base commit, then the fix and its tests committed on top (as upstream has
    them), and the instance describing it. `bare`: the copy in repos_dir is a bare clone."""
    work = repos_dir / ("_work_" + repo.replace("/", "__")) if bare else repos_dir / repo.replace("/", "__")
    if not (work / ".git").is_dir():
        work.mkdir(parents=True)
        sh("git", "init", "-q", "-b", "main", cwd=work)
        _write(work, base)
        _commit(work, "base")
        sh("git", "tag", "v1.0", cwd=work)
    base_sha = sh("git", "rev-parse", "HEAD", cwd=work)
    _write(work, {**fix, **tests})
    _commit(work, f"fix #{number}")
    test_paths = list(tests)
    src_paths = list(fix)
    gold = sh("git", "diff", base_sha, "HEAD", "--", *src_paths, cwd=work) + "\n"
    test_patch = sh("git", "diff", base_sha, "HEAD", "--", *test_paths, cwd=work) + "\n"
    sh("git", "checkout", "-q", base_sha, cwd=work)  # the upstream checkout sits elsewhere than HEAD
    path = work
    if bare:
        path = repos_dir / (repo.replace("/", "__") + ".git")
        sh("git", "clone", "-q", "--bare", str(work), str(path), cwd=repos_dir)
    name = repo.split("/")[1]
    record = {
        "repo": repo,
        "instance_id": f"{repo.replace('/', '__')}-{number}",
        "base_commit": base_sha,
        "patch": gold,
        "test_patch": test_patch,
        "problem_statement": f"{name}: the functions give wrong answers (issue #{number}).",
        "hints_text": "",
        "created_at": "2026-01-01T00:00:00Z",
        "version": "1.0",
        "FAIL_TO_PASS": json.dumps(fail_to_pass),
        "PASS_TO_PASS": json.dumps(pass_to_pass),
        "environment_setup_commit": base_sha,
    }
    return Built(record, path)


def build_calc(repos_dir: Path, bare: bool = False) -> Built:
    return build_repo(
        repos_dir,
        "rio-test/calc",
        CALC_BASE,
        CALC_FIX,
        CALC_TESTS,
        ["tests/test_calc.py::test_add", "tests/test_calc.py::test_mul[two by three]"],
        ["tests/test_calc.py::test_sub", "tests/test_calc.py::test_mul[zero]"],
        bare=bare,
    )


def build_words(repos_dir: Path) -> Built:
    return build_repo(
        repos_dir,
        "rio-test/words",
        WORDS_BASE,
        WORDS_FIX,
        WORDS_TESTS,
        ["test_words.py::test_count"],
        ["test_words.py::test_shout"],
    )


def write_instances(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(records, indent=1))
    return path


def write_table(path: Path) -> Path:
    path.write_text(ENV_TABLE)
    return path


# ---- tests of the builders and of workspaces --------------------------------------------------------


def test_instances_written_in_the_official_format_load(tmp_path: Path) -> None:
    calc = build_calc(tmp_path / "repos")
    assert isinstance(calc.record["FAIL_TO_PASS"], str)  # a JSON string, as SWE-bench publishes it
    path = write_instances(tmp_path / "instances.json", [calc.record])
    [inst] = load_instances(path)
    assert inst.fail_to_pass == ["tests/test_calc.py::test_add", "tests/test_calc.py::test_mul[two by three]"]
    assert inst.test_files == ["tests/data/cases.json", "tests/test_calc.py"]
    assert inst.test_directives == ["tests/test_calc.py"]  # data files are not run


@pytest.mark.parametrize("bare", [False, True])
def test_workspace_is_the_base_commit_with_no_route_to_the_fix(tmp_path: Path, bare: bool) -> None:
    calc = build_calc(tmp_path / "repos", bare=bare)
    source = find_local_source("rio-test/calc", tmp_path / "repos")
    assert source == calc.path.resolve()
    ws = create_workspace(source, tmp_path / "ws", calc.record["base_commit"])
    assert (ws / "calc.py").read_text() == CALC_BASE["calc.py"]
    assert sh("git", "rev-parse", "HEAD", cwd=ws) == calc.record["base_commit"]
    refs = sh("git", "for-each-ref", "--format=%(refname)", cwd=ws).split()
    assert refs == ["refs/heads/main", "refs/tags/v1.0"]  # no branch or tag names the fix
    assert sh("git", "log", "--all", "--format=%s", cwd=ws) == "base"
    assert sh("git", "status", "--porcelain", cwd=ws) == ""


def test_model_patch_is_the_diff_without_test_files_and_build_output(tmp_path: Path) -> None:
    calc = build_calc(tmp_path / "repos")
    ws = create_workspace(calc.path, tmp_path / "ws", calc.record["base_commit"])
    (ws / "calc.py").write_text(CALC_FIX["calc.py"])
    (ws / "notes").mkdir()
    (ws / "notes" / "new.txt").write_text("a new file\n")
    (ws / "tests" / "test_calc.py").write_text("# the agent edited a test\n")
    (ws / "tests" / "__pycache__").mkdir()
    (ws / "tests" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    sh("git", "add", "calc.py", cwd=ws)  # the agent's own staging changes nothing
    inst = load_instances(write_instances(tmp_path / "i.json", [calc.record]))[0]
    patch = model_patch(ws, inst.base_commit, exclude=inst.test_files)
    assert "diff --git a/calc.py b/calc.py" in patch
    assert "diff --git a/notes/new.txt b/notes/new.txt" in patch
    assert "test_calc.py" not in patch and "pycache" not in patch
    # The patch is exactly the gold one for calc.py: it applies to a fresh checkout.
    fresh = create_workspace(calc.path, tmp_path / "fresh", inst.base_commit)
    subprocess.run(["git", "apply", "-"], input=patch, text=True, cwd=fresh, check=True)
    assert (fresh / "calc.py").read_text() == CALC_FIX["calc.py"]
