"""The grader's result readers on recorded logs of real SWE-bench Lite instances (tests/data/swe_logs/).

Each log is a real run (real pytest with the results plugin, real unittest at verbosity 2 under the Python
the spec names, sympy's own runner) of a test tree whose tests carry exactly the instance's FAIL_TO_PASS and
PASS_TO_PASS ids; record.py there regenerates them. `pass`: every test passes; `f2p_fails`: one F2P fails.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from rioagent.swe.grading import is_passing, judge
from rioagent.swe.instances import Instance, instance_from_dict
from rioagent.swe.readers import READERS, django_statuses, sympy_statuses
from rioagent.swe.specs import RUNNERS as SPEC_RUNNERS
from rioagent.swe.specs import spec_for
from rioagent.swe.testrun import RUNNERS, command, run_tests

LOGS = Path(__file__).resolve().parent / "data" / "swe_logs"
INSTANCES = {
    r["instance_id"]: instance_from_dict({**r, "base_commit": "unused"})
    for r in json.loads((LOGS / "instances.json").read_text(encoding="utf-8"))
}
# The F2P verdict when the first F2P test fails: partial while other F2P tests still pass.
EXPECTED_WHEN_ONE_FAILS = {
    "pytest-dev__pytest-7168": "partial",
    "pylint-dev__astroid-1866": "unresolved",
    "django__django-13220": "partial",
    "django__django-13447": "unresolved",
    "django__django-16527": "unresolved",
    "sympy__sympy-22005": "unresolved",
    "sympy__sympy-24102": "partial",
}


def _read(instance: Instance, variant: str) -> tuple[str, dict[str, str]]:
    runner = spec_for(instance.repo, instance.version).runner  # the reader is chosen by the spec
    (log,) = LOGS.glob(f"{instance.instance_id}.{variant}.*")
    _source, reader = READERS[runner]
    return runner, reader(log.read_text(encoding="utf-8"))


def test_the_recorded_set_covers_every_runner_and_awkward_ids() -> None:
    runners = {spec_for(i.repo, i.version).runner for i in INSTANCES.values()}
    assert runners == {"pytest", "django", "sympy"}
    assert set(INSTANCES) == set(EXPECTED_WHEN_ONE_FAILS)
    every_id = [t for i in INSTANCES.values() for t in i.fail_to_pass + i.pass_to_pass]
    assert any(t.count("[") != t.count("]") for t in every_id)  # a parametrized id cut at its space
    assert any(not t.startswith("test_") and "::" not in t for t in every_id)  # a Django docstring id
    assert any(t.split(" (")[1].rstrip(")").endswith("." + t.split(" ")[0]) for t in every_id if " (" in t)


@pytest.mark.parametrize("instance_id", sorted(EXPECTED_WHEN_ONE_FAILS))
def test_every_id_is_read_and_all_passing_resolves(instance_id: str) -> None:
    instance = INSTANCES[instance_id]
    runner, statuses = _read(instance, "pass")
    for test in instance.fail_to_pass + instance.pass_to_pass:
        assert is_passing(test, statuses), test
    verdict, f2p, p2p, ignored = judge(instance, runner, statuses)
    assert (verdict, ignored) == ("resolved", [])
    assert (f2p.passed, p2p.passed) == (len(instance.fail_to_pass), len(instance.pass_to_pass))


@pytest.mark.parametrize("instance_id", sorted(EXPECTED_WHEN_ONE_FAILS))
def test_one_failing_f2p_test_is_read_and_graded_by_the_rule(instance_id: str) -> None:
    instance = INSTANCES[instance_id]
    runner, statuses = _read(instance, "f2p_fails")
    failing = instance.fail_to_pass[0]
    assert not is_passing(failing, statuses)
    for test in instance.fail_to_pass[1:] + instance.pass_to_pass:
        assert is_passing(test, statuses), test
    verdict, f2p, p2p, _ = judge(instance, runner, statuses)
    assert f2p.failing == [failing] and p2p.failing == []
    assert verdict == EXPECTED_WHEN_ONE_FAILS[instance_id]


def test_exact_ids_in_the_recorded_logs() -> None:
    """Spot checks of what the readers produced, by exact id, status included."""
    _, astroid = _read(INSTANCES["pylint-dev__astroid-1866"], "f2p_fails")
    cut = "tests/unittest_brain_builtin.py::TestStringNodes::test_string_format_uninferable[\\n"
    full = [t for t in astroid if t.startswith(cut + " ")]
    assert len(full) == 6 and sum(astroid[t] == "failed" for t in full) == 1  # the cut id covers all six
    _, old = _read(INSTANCES["django__django-13220"], "f2p_fails")  # Python 3.6: subtest failure
    assert old["test_eq (test_exceptions.test_validation_error.TestValidationError)"] == "failed"
    assert old["test_eq_nested (test_exceptions.test_validation_error.TestValidationError)"] == "passed"
    _, new = _read(INSTANCES["django__django-16527"], "pass")  # Python 3.11 spelling, with the old alias
    name = "test_choice_links"
    assert new[f"{name} (admin_views.test_templatetags.DateHierarchyTests.{name})"] == "passed"
    assert new[f"{name} (admin_views.test_templatetags.DateHierarchyTests)"] == "passed"
    assert new["submit_row template tag should pass whole context."] == "passed"
    _, sympy = _read(INSTANCES["sympy__sympy-22005"], "f2p_fails")
    assert sympy == {
        "test_solve_poly_system": "failed",
        "test_solve_biquadratic": "passed",
        "test_solve_triangulated": "passed",
    }


def test_django_reader_on_output_between_dots_and_status_and_summary_only_failures() -> None:
    out = "\n".join(
        [
            "test_a (m.T)",
            "--version is equivalent to version ... Testing against Django installed in '/x'",
            "System check identified no issues (0 silenced).",
            "ok",
            "test_b (m.T) ... skipped 'no db'",
            "test_c (m.T) ... expected failure",
            "test_d (m.T) ... unexpected success",
            "  Applying admin.0001_initial... OK",
            "======",
            "ERROR: setUpClass (m.U)",
            "------",
            "FAIL: test_e (m.T)",
            "Docstring of e",
            "------",
        ]
    )
    assert django_statuses(out) == {
        "test_a (m.T)": "passed",
        "--version is equivalent to version": "passed",
        "test_b (m.T)": "skipped",
        "test_c (m.T)": "xfailed",
        "test_d (m.T)": "failed",
        "setUpClass (m.U)": "error",
        "test_e (m.T)": "failed",
        "Docstring of e": "failed",
    }


def test_sympy_reader_on_skips_printed_output_and_the_failure_list() -> None:
    out = "\n".join(
        [
            "sympy/a/tests/test_a.py[5] ",
            "test_slow Slow w",
            "test_xf f",
            "test_prints some output",
            "ok",
            "test_err E",
            "test_last ok                                   [FAIL]",
            "____ sympy/a/tests/test_a.py:test_last ____",
        ]
    )
    assert sympy_statuses(out) == {
        "test_slow": "skipped",
        "test_xf": "xfailed",
        "test_prints": "passed",
        "test_err": "error",
        "test_last": "failed",
    }


def test_runners_readers_and_the_spec_table_agree() -> None:
    assert set(RUNNERS) == set(READERS) == set(SPEC_RUNNERS)
    assert command("django", "py", ["a.b"], ["--settings=test_sqlite"])[1:4] == [
        "tests/runtests.py",
        "--verbosity",
        "2",
    ]  # the reader needs verbosity 2: added when a table leaves it out
    assert command("sympy", "py", ["t.py"], ["-C", "--verbose"]) == [
        "py",
        "bin/test",
        "-C",
        "--verbose",
        "t.py",
    ]


# Thin real runners standing in for the repositories' own: Django's runtests.py hands labels to unittest's
# TextTestRunner at the given verbosity, sympy's bin/test calls sympy's runner.
RUNTESTS = """
import sys, unittest
sys.path.insert(0, "tests")
verbosity = int(sys.argv[sys.argv.index("--verbosity") + 1])
labels = [a for a in sys.argv[1:] if not a.startswith("-") and not a.isdigit()]
suite = unittest.defaultTestLoader.loadTestsFromNames(labels)
sys.exit(not unittest.TextTestRunner(verbosity=verbosity).run(suite).wasSuccessful())
"""
BIN_TEST = """
import os, sys
from sympy.testing.runtests import PyTestReporter, SymPyTests
reporter = PyTestReporter(verbose="--verbose" in sys.argv, colors=False)
tests = SymPyTests(reporter)
tests._testfiles.extend(os.path.abspath(a) for a in sys.argv[1:] if a.endswith(".py"))
sys.exit(int(not tests.test()))
"""


@pytest.mark.parametrize("runner", ["django", "sympy"])
def test_run_tests_runs_the_repository_runner_and_reads_it(runner: str, tmp_path: Path) -> None:
    workspace, scratch = tmp_path / "ws", tmp_path / "scratch"
    (scratch / "tmp").mkdir(parents=True)
    if runner == "django":
        test_file = "tests/pkg/tests.py"
        (workspace / "tests" / "pkg").mkdir(parents=True)
        (workspace / "tests" / "pkg" / "__init__.py").touch()
        (workspace / "tests" / "runtests.py").write_text(RUNTESTS)
        source = (
            "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        '''Doc of ok.'''\n"
        )
        source += "    def test_bad(self):\n        self.fail()\n"
        expected = {
            "test_ok (pkg.tests.T)": "passed",
            "Doc of ok.": "passed",
            "test_bad (pkg.tests.T)": "failed",
        }
    else:
        test_file = "pkg/tests/test_p.py"
        (workspace / "pkg" / "tests").mkdir(parents=True)
        (workspace / "bin").mkdir()
        (workspace / "bin" / "test").write_text(BIN_TEST)
        source = "def test_ok():\n    print('output')\n\ndef test_bad():\n    assert False\n"
        expected = {"test_ok": "passed", "test_bad": "failed"}
    (workspace / test_file).write_text(source)
    patch = f"diff --git a/{test_file} b/{test_file}\n"
    instance = Instance(instance_id="x__y-1", repo="x/y", base_commit="c", test_patch=patch)
    spec = spec_for("django/django", "3.0") if runner == "django" else spec_for("sympy/sympy", "1.1")
    assert spec.runner == runner
    run = run_tests(
        instance, runner, sys.executable, workspace, scratch, dict(os.environ), [], spec.test_args
    )
    assert run.error == ""
    assert run.statuses.items() >= expected.items()
    # Python 3.11+ prints `test_x (m.C.test_x)`: read under both spellings.
    new_spelling = runner == "django" and sys.version_info >= (3, 11)
    assert len(run.statuses) == len(expected) + (2 if new_spelling else 0)
