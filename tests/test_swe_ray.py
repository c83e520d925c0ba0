"""--executor ray on a Ray cluster started here (2 CPUs, no dashboard): each task builds its own workspace
and environment, and the predictions and grades match the local process pool's."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import ray

from rioagent.swe.evaluate import EvalOptions, run_swe
from rioagent.swe.harness import HarnessConfig
from rioagent.swe.instances import load_instances
from rioagent.swe.outputs import read_jsonl
from tests.test_swe_repos import build_calc, build_words, write_instances, write_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("RIO_TEST_INSTANCES", str(tmp_path / "instances.json"))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster: no token in ~/.ray
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        # Tasks import the scripted model from tests/: the workers need the checkout on their path.
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "config")}},
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def run(tmp_path: Path, executor: str, out: str) -> Path:
    repos = tmp_path / "repos"
    instances = load_instances(tmp_path / "instances.json")
    opts = EvalOptions(
        instances=instances,
        out=tmp_path / out,
        harness=HarnessConfig(
            # Each builds its own envs and workspaces; paths of one length, so prompts count the same.
            cache_dir=str(tmp_path / ("cache-1" if executor == "ray" else "cache-2")),
            repos_dir=str(repos),
            env_table=str(tmp_path / "table.yaml"),
            hidden=[str(tmp_path / "instances.json")],
            upgrade_pip=False,
        ),
        executor=executor,
        workers=2,
        flags={"max_steps": 8},
        model_factory="tests.test_swe_runner:gold_model",
        grade=True,
    )
    assert run_swe(opts) == 0
    return tmp_path / out


def test_ray_and_the_local_pool_give_the_same_results(tmp_path: Path, cluster: Any) -> None:
    repos = tmp_path / "repos"
    write_instances(tmp_path / "instances.json", [build_calc(repos).record, build_words(repos).record])
    write_table(tmp_path / "table.yaml")
    on_ray = run(tmp_path, "ray", "ray")
    local = run(tmp_path, "local", "local")
    preds_ray = json.loads((on_ray / "preds.json").read_text())
    preds_local = json.loads((local / "preds.json").read_text())
    assert preds_ray == preds_local
    assert all(p["model_patch"] for p in preds_ray.values())
    keys = ("status", "exit_reason", "steps", "tokens")
    results_ray, results_local = read_jsonl(on_ray / "results.jsonl"), read_jsonl(local / "results.jsonl")
    assert {i: [r[k] for k in keys] for i, r in results_ray.items()} == {
        i: [r[k] for k in keys] for i, r in results_local.items()
    }
    grades_ray, grades_local = read_jsonl(on_ray / "grades.jsonl"), read_jsonl(local / "grades.jsonl")
    assert {i: (g["status"], g["f2p"], g["p2p"]) for i, g in grades_ray.items()} == {
        i: (g["status"], g["f2p"], g["p2p"]) for i, g in grades_local.items()
    }
    assert {g["status"] for g in grades_ray.values()} == {"resolved"}
    # The Ray tasks really ran in Ray's worker processes, not here.
    assert all(r["worker"]["pid"] != os.getpid() for r in results_ray.values())
    assert len(list((on_ray / "logs").glob("*.jsonl"))) == 2
