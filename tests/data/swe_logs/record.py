"""Record the test-run logs in this folder from real runners, for real SWE-bench Lite instances.

The real repositories cannot be cloned here, so for each instance below a stand-in test tree is written
whose tests carry EXACTLY the instance's FAIL_TO_PASS / PASS_TO_PASS ids (same files, classes, methods,
docstrings, parameters), and the real runner is run on it:
- pytest repos: real pytest with the grader's results plugin (the JSON lines the grader reads);
- django: real `unittest` at verbosity 2 under the Python the spec names for that Django version: Django's
  runtests.py uses unittest's TextTestRunner, so these are the same `test_x (module.Class)` lines;
- sympy: sympy's own runner (sympy.testing.runtests, what bin/test calls) with --verbose output.
Two variants per instance: `pass` (every test passes) and `f2p_fails` (one FAIL_TO_PASS test fails).

Regenerate (needs pyenv Pythons 3.6/3.8/3.11 and sympy in the venv):
    python tests/data/swe_logs/record.py /work/shared/swebench/swebench_lite_test.json ...
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from rioagent.swe.instances import instance_from_dict
from rioagent.swe.specs import spec_for
from rioagent.swe.testrun import PLUGIN_MODULE

HERE = Path(__file__).resolve().parent
RESULTS_PLUGIN = HERE.parents[2] / "rioagent" / "swe" / "results_plugin.py"
CHOSEN = [
    "pytest-dev__pytest-7168",
    "pylint-dev__astroid-1866",  # parametrized ids with spaces and newlines, cut at the space in the lists
    "django__django-13220",  # Django 3.2 on Python 3.6: `test_x (module.Class)`
    "django__django-13447",  # Django 4.0 on Python 3.8: a docstring id
    "django__django-16527",  # Django 5.0 on Python 3.11: `test_x (module.Class.test_x)` and docstring ids
    "sympy__sympy-22005",
    "sympy__sympy-24102",
]
VARIANTS = ("pass", "f2p_fails")
_UNITTEST_ID = re.compile(r"^(\w+) \(([\w.]+)\)$")

# pylint-dev/astroid tests/unittest_brain_builtin.py with the instance's test patch applied: the parameter
# values themselves, since pytest derives the ids (spaces, newlines) from them. Bodies are stand-ins.
ASTROID_1866 = '''
import unittest

import pytest

FAILING = {failing!r}


class BuiltinsTest(unittest.TestCase):
    def test_infer_property(self):
        pass


class TestStringNodes:
    @pytest.mark.parametrize(
        "format_string",
        [
            pytest.param("", id="empty-indexes"),
            pytest.param("", id="numbered-indexes"),
            pytest.param("", id="named-indexes"),
            pytest.param("", id="numbered-indexes-from-positional"),
            pytest.param("", id="named-indexes-from-keyword"),
            pytest.param("", id="mixed-indexes-from-mixed"),
            pytest.param("", id="empty-indexes-on-variable"),
        ],
    )
    def test_string_format(self, format_string):
        pass

    @pytest.mark.parametrize(
        "format_string",
        [
            """
            from missing import Unknown
            name = Unknown
            age = 12
            "My name is {{fname}}, I'm {{age}}".format(fname = name, age = age)
            """,
            """
            from missing import Unknown
            age = 12
            "My name is {{fname}}, I'm {{age}}".format(fname = Unknown, age = age)
            """,
            """
            from missing import Unknown
            "My name is {{}}, I'm {{}}".format(Unknown, 12)
            """,
            """"I am {{}}".format()""",
            """
            "My name is {{fname}}, I'm {{age}}".format(fsname = "Daniel", age = 12)
            """,
            """
            "My unicode character is {{:c}}".format(None)
            """,
            """
            "My hex format is {{:4x}}".format('1')
            """,
        ],
    )
    def test_string_format_uninferable(self, format_string):
        assert not any(f in format_string for f in FAILING)

    def test_string_format_with_specs(self):
        pass
'''


def _pytest_tree(root: Path, instance, variant: str) -> list[str]:
    """Test modules for plain pytest ids (`file::Class::func[param]`); returns the files."""
    fail = instance.fail_to_pass[0] if variant == "f2p_fails" else None
    per_file: dict[str, dict[str, dict[str, list[str]]]] = {}
    for test in instance.fail_to_pass + instance.pass_to_pass:
        file, *names = test.split("::")
        cls = names[0] if len(names) == 2 else ""
        func, _, param = names[-1].partition("[")
        per_file.setdefault(file, {}).setdefault(cls, {}).setdefault(func, [])
        if param:
            per_file[file][cls][func].append(param.removesuffix("]"))
    for file, classes in per_file.items():
        lines = ["import unittest", "", "import pytest", ""]
        for cls, funcs in classes.items():
            indent = "    " if cls else ""
            if cls:  # pytest collects other class names only as unittest cases (psf/requests' tests)
                base = "" if cls.startswith("Test") else "(unittest.TestCase)"
                lines.append(f"class {cls}{base}:")
            for func, params in funcs.items():
                node = "::".join([file, *([cls] if cls else []), func])
                args = "self, p" if cls else "p"
                if params:
                    lines.append(f"{indent}@pytest.mark.parametrize('p', {params!r}, ids={params!r})")
                    failing = [q for q in params if fail == f"{node}[{q}]"]
                    body = f"assert p not in {failing!r}"
                else:
                    args = "self" if cls else ""
                    body = f"assert {fail != node}"
                lines += [f"{indent}def {func}({args}):", f"{indent}    {body}", ""]
        path = root / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return list(per_file)


def record_pytest(instance, variant: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if instance.instance_id == "pylint-dev__astroid-1866":
            file = "tests/unittest_brain_builtin.py"
            (root / "tests").mkdir()
            failing = ["My unicode character"] if variant == "f2p_fails" else []
            (root / file).write_text(ASTROID_1866.format(failing=failing), encoding="utf-8")
            files = [file]
        else:
            files = _pytest_tree(root, instance, variant)
        (root / "plugin").mkdir()
        (root / "plugin" / f"{PLUGIN_MODULE}.py").write_bytes(RESULTS_PLUGIN.read_bytes())
        results = root / "results.jsonl"
        env = {**os.environ, "PYTHONPATH": str(root / "plugin"), "RIOAGENT_RESULTS_FILE": str(results)}
        cmd = [sys.executable, "-m", "pytest", "-p", PLUGIN_MODULE, "-p", "no:cacheprovider", "-rA", *files]
        subprocess.run(cmd, cwd=root, env=env, capture_output=True, check=False)
        out.write_text(results.read_text(encoding="utf-8"), encoding="utf-8")


def record_django(instance, variant: str, out: Path) -> None:
    fail = instance.fail_to_pass[0] if variant == "f2p_fails" else None
    modules: dict[str, dict[str, list[tuple[str, str]]]] = {}  # module -> class -> [(method, docstring)]
    described = []
    for test in instance.fail_to_pass + instance.pass_to_pass:
        match = _UNITTEST_ID.match(test)
        if match is None:
            described.append(test)
            continue
        method, path = match.groups()
        if path.endswith("." + method):  # Python 3.11+ ids: module.Class.method
            path = path.removesuffix("." + method)
        module, cls = path.rsplit(".", 1)
        modules.setdefault(module, {}).setdefault(cls, []).append((method, test))
    first = next(iter(modules.values()))
    for number, doc in enumerate(described):  # a docstring id names no method: any method with that doc
        first[next(iter(first))].append((f"test_described_{number}", doc))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for module, classes in modules.items():
            path = root / (module.replace(".", "/") + ".py")
            for parent in path.relative_to(root).parents:
                if str(parent) != ".":
                    (root / parent).mkdir(parents=True, exist_ok=True)
                    (root / parent / "__init__.py").touch()
            lines = ["import sys", "import unittest", ""]
            for cls, methods in classes.items():
                lines.append(f"class {cls}(unittest.TestCase):")
                for n, (method, test) in enumerate(methods):
                    lines.append(f"    def {method}(self):")
                    if not _UNITTEST_ID.match(test):
                        lines.append(f"        {test!r}")  # the docstring whose first line is the id
                    if test == fail:  # failing inside a subTest: the case with no status on the test's line
                        lines += ["        for i in range(2):", "            with self.subTest(i=i):"]
                        lines.append("                self.assertEqual(i, 0)")
                    elif n == 1:  # Django's runner prints between `...` and the status like this
                        lines.append(
                            "        sys.stderr.write('System check identified no issues (0 silenced).\\n')"
                        )
                    else:
                        lines.append("        pass")
                lines.append("")
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        spec = spec_for(instance.repo, instance.version)
        python = f"/root/.pyenv/versions/{_pyenv_version(spec.python)}/bin/python"
        cmd = [python, "-m", "unittest", "-v", *modules]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
        out.write_text(f"# python {spec.python}: {' '.join(cmd[1:])}\n{proc.stderr}", encoding="utf-8")


def _pyenv_version(short: str) -> str:
    versions = sorted(
        p.name for p in Path("/root/.pyenv/versions").iterdir() if p.name.startswith(short + ".")
    )
    return versions[-1]


SYMPY_DRIVER = """
import sys
from sympy.testing.runtests import PyTestReporter, SymPyTests
reporter = PyTestReporter(verbose=True, colors=False)
tests = SymPyTests(reporter)
tests._root_dir = sys.argv[1]
reporter.root_dir(sys.argv[1])
tests._testfiles.extend(sys.argv[2:])
sys.exit(int(not tests.test()))
"""


def record_sympy(instance, variant: str, out: Path) -> None:
    fail = instance.fail_to_pass[0] if variant == "f2p_fails" else None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        file = root / instance.test_directives[0]  # every id in the first touched test file
        file.parent.mkdir(parents=True)
        body = []
        for test in instance.fail_to_pass + instance.pass_to_pass:
            body.append(f"def {test}():\n    assert {test != fail}\n")
        file.write_text("\n\n".join(body), encoding="utf-8")
        cmd = [sys.executable, "-c", SYMPY_DRIVER, str(root), str(file)]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
        text = proc.stdout.replace(str(root), "<repo>")
        out.write_text(text, encoding="utf-8")


def main(paths: list[str]) -> None:
    records = {}
    for path in paths:
        for record in json.loads(Path(path).read_text(encoding="utf-8")):
            records[record["instance_id"]] = record
    kept = []
    for instance_id in CHOSEN:
        record = records[instance_id]
        instance = instance_from_dict(record)
        runner = spec_for(instance.repo, instance.version).runner
        recorder = {"pytest": record_pytest, "django": record_django, "sympy": record_sympy}[runner]
        ext = "jsonl" if runner == "pytest" else "txt"
        for variant in VARIANTS:
            recorder(instance, variant, HERE / f"{instance_id}.{variant}.{ext}")
        keys = ("instance_id", "repo", "version", "FAIL_TO_PASS", "PASS_TO_PASS")
        kept.append({k: record[k] for k in keys})
    text = json.dumps(kept, indent=1) + "\n"
    (HERE / "instances.json").write_text(text, encoding="utf-8")
    print(textwrap.shorten(f"recorded {len(kept)} instances x {len(VARIANTS)} variants in {HERE}", 200))


if __name__ == "__main__":
    main(sys.argv[1:])
