"""SWE eval harness benchmark; prints one JSON object (and writes it with --json-out).

Over instances built here (one git repository of --files modules, one instance per buggy module: a bug,
its fix as the gold patch, a test patch that adds the failing test), measured on this machine:

- overhead_seconds: per instance, the harness's own work, agent and test run excluded: making the
  workspace, the test environment (the shared venv's first build, then its reuse: a hard-link copy plus an
  editable install of the workspace), the patch diff, and grading (fresh workspace + env + applying both
  patches + reading results), medians over the instances.
- throughput: `eval swe --grade` end to end with a scripted model that applies the gold patch in two
  turns (so the agent costs almost nothing), for each --workers N: instances/hour and wall seconds.

Run: python evals/bench_eval.py [--instances 8] [--workers 1 2 4] [--json-out evals/bench_eval.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rioagent.swe.evaluate import EvalOptions, run_swe  # noqa: E402
from rioagent.swe.grading import grade  # noqa: E402
from rioagent.swe.harness import Harness, HarnessConfig  # noqa: E402
from rioagent.swe.instances import Instance, load_instances  # noqa: E402
from rioagent.swe.workspace import model_patch  # noqa: E402

REPO = "bench/mods"
TABLE = """
bench/mods:
  default:
    python: current
    inherit_host: true
    install: ""
    runner: pytest
"""
PYPROJECT = (
    '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
    '[project]\nname = "mods"\nversion = "0.1"\n\n[tool.setuptools]\npackages = ["mods"]\n'
)


def sh(*args: str, cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def module(i: int, fixed: bool) -> str:
    op = "+" if fixed else "-"
    filler = "".join(f"\n\ndef helper_{i}_{k}(x):\n    return x * {k}\n" for k in range(20))
    return f"def add_{i}(a, b):\n    return a {op} b\n{filler}"


def build(root: Path, count: int, files: int) -> Path:
    """The repository (root/repos/bench__mods) and the instances file; returns the file."""
    repo = root / "repos" / REPO.replace("/", "__")
    (repo / "mods").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "mods" / "__init__.py").write_text("")
    for i in range(files):
        (repo / "mods" / f"m{i}.py").write_text(module(i, fixed=i >= count))
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "base", cwd=repo)
    base = sh("git", "rev-parse", "HEAD", cwd=repo).strip()
    records = []
    for i in range(count):
        (repo / "mods" / f"m{i}.py").write_text(module(i, fixed=True))
        gold = sh("git", "diff", cwd=repo)
        sh("git", "checkout", "--", ".", cwd=repo)
        test = repo / "tests" / f"test_m{i}.py"
        test.write_text(
            f"from mods.m{i} import add_{i}\n\n\ndef test_add():\n    assert add_{i}(2, 3) == 5\n"
        )
        sh("git", "add", "-N", str(test), cwd=repo)
        test_patch = sh("git", "diff", cwd=repo)
        sh("git", "rm", "-q", "--cached", str(test), cwd=repo)
        test.unlink()
        records.append(
            {
                "repo": REPO,
                "instance_id": f"bench__mods-{i}",
                "base_commit": base,
                "patch": gold,
                "test_patch": test_patch,
                "problem_statement": f"add_{i} subtracts",
                "version": "0.1",
                "FAIL_TO_PASS": json.dumps([f"tests/test_m{i}.py::test_add"]),
                "PASS_TO_PASS": "[]",
                "environment_setup_commit": base,
            }
        )
    path = root / "instances.json"
    path.write_text(json.dumps(records))
    (root / "table.yaml").write_text(TABLE)
    return path


def gold_model(instance: Instance) -> Any:
    """Two turns: the gold patch's hunk as one str_replace, then finish."""
    from tests.scripted_model import ScriptedModel, reply, xml_call

    lines = instance.patch.splitlines()
    path = next(line[6:] for line in lines if line.startswith("+++ b/"))
    hunk = lines[next(i for i, line in enumerate(lines) if line.startswith("@@")) + 1 :]
    old = "\n".join(line[1:] for line in hunk if line[:1] in (" ", "-"))
    new = "\n".join(line[1:] for line in hunk if line[:1] in (" ", "+"))
    return ScriptedModel(
        [
            reply(xml_call("str_replace", path=path, old_str=old, new_str=new)),
            reply(xml_call("finish", summary="fixed")),
        ]
    )


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def overhead(root: Path, instances: list[Instance], config: HarnessConfig) -> dict[str, Any]:
    harness = Harness(config)
    figures: dict[str, list[float]] = {}

    def note(key: str, value: float) -> None:
        figures.setdefault(key, []).append(value)

    first_build = 0.0
    for n, inst in enumerate(instances):
        scratch = harness.scratch(inst, "bench")
        t = time.perf_counter()
        ws = harness.workspace(inst, scratch)
        note("workspace", time.perf_counter() - t)
        t = time.perf_counter()
        env = harness.prepare_env(inst, ws, scratch)
        elapsed = time.perf_counter() - t
        if n == 0:
            first_build = elapsed
        else:
            note("env_reused", elapsed)
            note("env_copy", env.timings["env_copy"])
            note("env_install", env.timings["env_install"])
        (ws / inst.patch.split("+++ b/")[1].split("\n")[0]).write_text(
            module(int(inst.instance_id.rsplit("-", 1)[1]), True)
        )
        t = time.perf_counter()
        model_patch(ws, inst.base_commit, exclude=inst.test_files)
        note("diff", time.perf_counter() - t)
        harness.cleanup(scratch)
        t = time.perf_counter()
        report = grade(harness, inst, inst.patch, root / "grade_logs" / inst.instance_id)
        total = time.perf_counter() - t
        assert report["status"] == "resolved", report
        note("grade_total", total)
        note("grade_without_tests", total - report["seconds"]["tests"])
        note("tests", report["seconds"]["tests"])
    out = {key: median(values) for key, values in figures.items()}
    out["env_first_build"] = round(first_build, 3)
    out["per_instance_without_agent_and_tests"] = round(
        out["workspace"] + out["env_reused"] + out["diff"] + out["grade_without_tests"], 3
    )
    return out


def throughput(root: Path, path: Path, config: HarnessConfig, workers: list[int]) -> list[dict[str, Any]]:
    rows = []
    for n in workers:
        out = root / f"run-{n}"
        opts = EvalOptions(
            instances=load_instances(path),
            out=out,
            harness=config,
            executor="local",
            workers=n,
            flags={"max_steps": 5},
            model_factory="bench_eval:gold_model",
            grade=True,
        )
        with open(os.devnull, "w") as quiet:
            t = time.perf_counter()
            code = run_swe(opts, err=quiet)
            wall = time.perf_counter() - t
        grades = [json.loads(line) for line in (out / "grades.jsonl").read_text().splitlines()]
        resolved = sum(g["resolved"] for g in grades)
        count = len(opts.instances)
        rows.append(
            {
                "workers": n,
                "instances": count,
                "resolved": resolved,
                "exit_code": code,
                "wall_seconds": round(wall, 2),
                "instances_per_hour": round(count / wall * 3600, 1),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=8)
    parser.add_argument("--files", type=int, default=200, help="modules in the repository")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        root = Path(tmp)
        os.environ["XDG_CONFIG_HOME"] = str(root / "config")  # no user config shapes the agent's settings
        path = build(root, args.instances, max(args.files, args.instances))
        config = HarnessConfig(
            cache_dir=str(root / "cache"),
            repos_dir=str(root / "repos"),
            env_table=str(root / "table.yaml"),
            upgrade_pip=False,
            hidden=[str(path)],
        )
        result = {
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "instances": args.instances,
            "repo_files": max(args.files, args.instances) + 3,
            "overhead_seconds": overhead(root, load_instances(path), config),
            # A fresh cache per worker count would rebuild the shared env each time: keep one, built above.
            "throughput": throughput(root, path, config, args.workers),
        }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")


if __name__ == "__main__":
    main()
