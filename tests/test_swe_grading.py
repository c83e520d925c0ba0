"""The grader on repositories built in the test: gold resolves, empty does not, half a fix is partial, a
patch that needs fuzz still applies, garbage is "patch failed"; tests run in the bwrap sandbox and are read
by their exact ids (spaces included). Through `rioagent eval grade` (the real CLI) and the Python API."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rioagent.swe.evaluate import EvalOptions, load_patches, run_grade
from rioagent.swe.grading import apply_patch, count, is_passing, verdict
from rioagent.swe.harness import Harness, HarnessConfig
from rioagent.swe.instances import load_instances
from rioagent.swe.readers import django_statuses, pytest_statuses, sympy_statuses
from rioagent.swe.sandbox import Sandbox
from rioagent.swe.workspace import create_workspace
from tests.test_swe_repos import CALC_HALF, build_calc, build_words, write_instances, write_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    repos = tmp_path / "repos"
    calc, words = build_calc(repos), build_words(repos)
    return {
        "repos": repos,
        "instances": write_instances(tmp_path / "instances.json", [calc.record, words.record]),
        "table": write_table(tmp_path / "table.yaml"),
        "cache": tmp_path / "cache",
    }


def eval_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rioagent", "eval", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )


def grade_cli(tmp_path: Path, setup: dict[str, Path], preds: str, out: str, *extra: str):
    """`rioagent eval grade`, one instance after another in the command's own process unless `extra`
    asks for a pool (process start-up costs more than these tiny instances)."""
    executor = [] if "--executor" in extra else ["--executor", "inline"]
    return eval_cli(
        tmp_path, "grade", "--instances", str(setup["instances"]), "--preds", preds,
        "--repos-dir", str(setup["repos"]), "--cache-dir", str(setup["cache"]),
        "--env-table", str(setup["table"]), "--out", str(tmp_path / out), *executor, *extra,
    )  # fmt: skip


def reports(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "grades").glob("*/report.json")}


def test_gold_resolves_and_empty_does_not(tmp_path: Path, setup: dict[str, Path]) -> None:
    gold = grade_cli(tmp_path, setup, "gold", "gold", "--executor", "local", "--workers", "2")
    assert gold.returncode == 0, gold.stderr
    got = reports(tmp_path / "gold")
    assert {k: (v["status"], v["resolved"]) for k, v in got.items()} == {
        "rio-test__calc-1": ("resolved", True),
        "rio-test__words-1": ("resolved", True),
    }
    calc = got["rio-test__calc-1"]
    assert calc["f2p"] == {"passed": 2, "total": 2, "failing": []}
    assert calc["p2p"]["passed"] == calc["p2p"]["total"] == 2
    assert calc["patch_applied"] == "git apply"
    statuses = json.loads((tmp_path / "gold/grades/rio-test__calc-1/statuses.json").read_text())
    assert statuses["tests/test_calc.py::test_mul[two by three]"] == "passed"  # the exact id, space kept
    assert "resolved 2/2 (100.0%)" in gold.stderr
    md = (tmp_path / "gold" / "report.md").read_text()
    assert "**Resolved: 2/2 (100.0%)**" in md and "| rio-test/calc | 1 | 1 | 100.0 |" in md

    empty = grade_cli(tmp_path, setup, "empty", "empty")
    assert empty.returncode == 0, empty.stderr
    got = reports(tmp_path / "empty")
    assert {k: v["status"] for k, v in got.items()} == {
        "rio-test__calc-1": "unresolved",
        "rio-test__words-1": "unresolved",
    }
    assert got["rio-test__calc-1"]["f2p"]["passed"] == 0
    assert got["rio-test__calc-1"]["p2p"]["passed"] == 2  # the tests did run: P2P still pass

    again = grade_cli(tmp_path, setup, "gold", "gold")  # same patches: nothing graded twice
    assert "2 instance(s) already graded" in again.stderr
    assert len((tmp_path / "gold" / "grades.jsonl").read_text().splitlines()) == 2

    # eval report / compare over the two folders.
    report = eval_cli(tmp_path, "report", str(tmp_path / "gold"), "--json")
    assert report.returncode == 0, report.stderr
    summary = json.loads(report.stdout)
    assert summary["resolved_pct"] == 100.0
    assert summary["per_repo"]["rio-test/words"] == {"total": 1, "resolved": 1, "resolved_pct": 100.0}
    diff = eval_cli(tmp_path, "compare", str(tmp_path / "gold"), str(tmp_path / "empty"), "--json")
    assert json.loads(diff.stdout)["resolved_pct_delta"] == -100.0
    assert json.loads(diff.stdout)["newly_unresolved"] == ["rio-test__calc-1", "rio-test__words-1"]
    text = eval_cli(tmp_path, "compare", str(tmp_path / "gold"), str(tmp_path / "empty")).stdout
    assert "| resolved % | 100.0 | 0.0 | -100.0 |" in text


def test_partial_patch_failed_and_a_patch_that_needs_fuzz(tmp_path: Path, setup: dict[str, Path]) -> None:
    [calc, words] = load_instances(setup["instances"])
    # words' gold patch with one context line that differs from the file: git apply (and --3way) refuse
    # it, patch --fuzz applies it.
    fuzzy = words.patch.replace(" def count(text):", " def  count(text):")
    preds = {
        calc.instance_id: {
            "instance_id": calc.instance_id,
            "model_name_or_path": "m",
            "model_patch": CALC_HALF,
        },
        words.instance_id: {
            "instance_id": words.instance_id,
            "model_name_or_path": "m",
            "model_patch": fuzzy,
        },
    }
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    proc = grade_cli(tmp_path, setup, str(tmp_path / "preds.json"), "out")
    assert proc.returncode == 0, proc.stderr
    got = reports(tmp_path / "out")
    assert got[calc.instance_id]["status"] == "partial"
    assert got[calc.instance_id]["resolved"] is False
    assert got[calc.instance_id]["f2p"]["failing"] == ["tests/test_calc.py::test_mul[two by three]"]
    assert got[words.instance_id]["patch_applied"] == "patch --fuzz"
    assert got[words.instance_id]["status"] == "resolved"

    preds[calc.instance_id]["model_patch"] = (
        "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n"
        "@@ -1,2 +1,2 @@\n-nothing like this\n+at all\n"
    )
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    proc = grade_cli(tmp_path, setup, str(tmp_path / "preds.json"), "out", "--ids", calc.instance_id)
    got = reports(tmp_path / "out")
    assert got[calc.instance_id]["status"] == "patch failed"
    assert "| partial" not in (tmp_path / "out" / "report.md").read_text()


def test_usage_errors_are_one_clear_line(tmp_path: Path, setup: dict[str, Path]) -> None:
    proc = grade_cli(tmp_path, setup, "gold", "o", "--ids", "nope__nope-1")
    assert proc.returncode == 2
    assert "no instance nope__nope-1 (check --ids)" in proc.stderr
    proc = grade_cli(tmp_path, setup, str(tmp_path / "missing.json"), "o")
    assert proc.returncode == 2 and "no such file" in proc.stderr
    proc = eval_cli(tmp_path, "report", str(tmp_path))
    assert proc.returncode == 2 and "neither grades.jsonl nor results.jsonl" in proc.stderr


def test_tests_run_without_network_and_only_the_workspace_is_writable(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    (tmp_path / "ws").mkdir()
    box = Sandbox(writable=[tmp_path / "ws"], chdir=tmp_path / "ws")
    probe = (
        f"import socket\ntry:\n socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
        " print('connected')\nexcept OSError as e:\n print('refused', e)\n"
    )
    try:
        inside = subprocess.run(box.wrap([sys.executable, "-c", probe]), capture_output=True, text=True)
        outside = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    finally:
        server.close()
    assert outside.stdout.startswith("connected")
    assert inside.stdout.startswith("refused"), inside.stdout + inside.stderr
    write = f"touch ok && touch {tmp_path}/outside"
    proc = subprocess.run(box.wrap(["bash", "-c", write]), capture_output=True, text=True)
    assert (tmp_path / "ws" / "ok").exists() and not (tmp_path / "outside").exists()
    assert "Read-only file system" in proc.stderr


def test_patch_methods_fall_back_in_order(tmp_path: Path) -> None:
    calc = build_calc(tmp_path / "repos")
    base = calc.record["base_commit"]
    ws = create_workspace(calc.path, tmp_path / "ws", base)
    log: list[str] = []
    assert apply_patch(ws, calc.record["patch"], base, tmp_path, log) == "git apply"
    log.clear()
    assert apply_patch(ws, "not a patch\n", base, tmp_path, log) is None
    assert len(log) == 3  # all three methods were tried
    assert (
        subprocess.run(["git", "status", "--porcelain"], cwd=ws, capture_output=True, text=True).stdout == ""
    )


def test_outcomes_by_exact_id_and_the_swe_bench_rule() -> None:
    lines = [
        json.dumps({"nodeid": "t.py::a[x y]", "when": "call", "outcome": "passed", "xfail": False}),
        json.dumps({"nodeid": "t.py::b", "when": "setup", "outcome": "failed", "xfail": False}),
        json.dumps({"nodeid": "t.py::c", "when": "call", "outcome": "skipped", "xfail": True}),
        json.dumps({"nodeid": "t.py::d", "when": "call", "outcome": "passed", "xfail": False}),
        json.dumps({"nodeid": "t.py::d", "when": "teardown", "outcome": "failed", "xfail": False}),
        '{"nodeid": "t.py::e", "when": "ca',  # a line cut by a killed run
    ]
    statuses = pytest_statuses("\n".join(lines))
    assert statuses == {
        "t.py::a[x y]": "passed",
        "t.py::b": "error",
        "t.py::c": "xfailed",
        "t.py::d": "error",
    }
    assert is_passing("t.py::a[x y]", statuses)
    assert is_passing("t.py::a[x", statuses)  # an id cut at its space by -rA parsing still matches
    assert not is_passing("t.py::missing", statuses)  # no result is not a pass
    f2p, p2p = count(["t.py::a[x y]", "t.py::c"], statuses), count(["t.py::b"], statuses)
    assert (f2p.passed, f2p.total, verdict(f2p, p2p)) == (2, 2, "unresolved")
    assert verdict(count(["t.py::a[x y]", "t.py::b"], statuses), count([], statuses)) == "partial"
    assert verdict(count(["t.py::a[x y]", "t.py::d"], statuses), count(["t.py::c"], statuses)) == "partial"
    # Half the F2P tests but a P2P test broken: not partial, unresolved.
    assert verdict(count(["t.py::a[x y]", "t.py::d"], statuses), count(["t.py::b"], statuses)) == "unresolved"
    django = "test_a (m.T) ... ok\ntest_b (m.T)\nDocstring of b ... FAIL\ntest_c (m.T) ... skipped 'x'\n"
    assert django_statuses(django) == {
        "test_a (m.T)": "passed",
        "Docstring of b": "failed",
        "test_b (m.T)": "failed",
        "test_c (m.T)": "skipped",
    }
    assert sympy_statuses("test_one ok\ntest_two F\n  test_three E\n") == {
        "test_one": "passed",
        "test_two": "failed",
        "test_three": "error",
    }


def test_venv_environment_is_built_once_and_reused(tmp_path: Path, setup: dict[str, Path]) -> None:
    calc = load_instances(setup["instances"])[0]
    harness = Harness(
        HarnessConfig(
            cache_dir=str(setup["cache"]),
            repos_dir=str(setup["repos"]),
            env_table=str(setup["table"]),
            upgrade_pip=False,
        )
    )
    first_scratch, second_scratch = harness.scratch(calc, "a"), harness.scratch(calc, "b")
    ws1 = harness.workspace(calc, first_scratch)
    env1 = harness.prepare_env(calc, ws1, first_scratch)
    ws2 = harness.workspace(calc, second_scratch)
    env2 = harness.prepare_env(calc, ws2, second_scratch)
    assert (env1.reused, env2.reused) == (False, True)
    assert env1.python != env2.python  # each instance has its own layer
    out = subprocess.run(
        [env2.python, "-c", "import sys, pytest; print(sys.prefix)"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(second_scratch / "venv")
    built = list((setup["cache"] / "envs").glob("rio-test__calc-1.0-*/.rioagent-complete"))
    assert len(built) == 1


def test_a_repository_that_cannot_be_had_is_an_error_that_says_what_to_do(tmp_path: Path, capsys) -> None:
    calc = build_calc(tmp_path / "repos")
    instances = load_instances(write_instances(tmp_path / "i.json", [calc.record]))
    config = HarnessConfig(
        cache_dir=str(tmp_path / "cache"),
        repos_dir=str(tmp_path / "empty"),  # no rio-test__calc here, and the "upstream" URL is dead
        url_template=f"file://{tmp_path}/nowhere/{{repo}}.git",
        env="host",
    )
    opts = EvalOptions(instances=instances, out=tmp_path / "out", harness=config, executor="inline")
    assert run_grade(opts, load_patches("gold", instances)) == 1
    report = json.loads((tmp_path / "out/grades/rio-test__calc-1/report.json").read_text())
    assert report["status"] == "error" and report["resolved"] is False
    assert "Put a clone at" in report["error"] and "--repos-dir" in report["error"]
    assert "1 error(s) (the harness could not grade them)" in capsys.readouterr().err
