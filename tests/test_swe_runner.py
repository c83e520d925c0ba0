"""`rioagent eval swe` end to end: a scripted model drives the real agent loop, whose bash runs inside the
bwrap sandbox of a real workspace with a real venv layer, and applies the gold patch through the edit
tools; its prediction is then graded. Also: a rerun skips finished instances, and a run interrupted with
Ctrl-C keeps what finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rioagent.swe.evaluate import EvalOptions, run_swe
from rioagent.swe.harness import HarnessConfig
from rioagent.swe.instances import Instance, load_instances
from rioagent.swe.outputs import read_jsonl
from tests.scripted_model import ScriptedModel, reply, xml_call
from tests.test_swe_repos import build_calc, build_words, write_instances, write_table

ROOT = Path(__file__).resolve().parents[1]
PROBE = (
    'git status --short; wc -c < "$RIO_TEST_INSTANCES"; touch /tmp/rio-escape 2>&1 | tail -1; '
    'cat "$RIO_TEST_REPOS/rio-test__calc/calc.py" 2>&1 | tail -1; '
    "python -c \"import socket; socket.create_connection(('10.255.255.1', 80), timeout=2)\" 2>&1 | tail -1; "
    "python -m pytest -q -p no:cacheprovider 2>&1 | tail -1"
)


def edit_calls(patch: str) -> list[str]:
    """The gold patch as str_replace calls, one per hunk (context and removed lines -> context and added)."""
    calls, path, hunk = [], "", None

    def flush() -> None:
        if hunk:
            old = "\n".join(line[1:] for line in hunk if line[:1] in (" ", "-"))
            new = "\n".join(line[1:] for line in hunk if line[:1] in (" ", "+"))
            calls.append(xml_call("str_replace", path=path, old_str=old, new_str=new))

    for line in patch.splitlines():
        if line.startswith("+++ b/"):
            flush()
            path, hunk = line[6:], None
        elif line.startswith("@@"):
            flush()
            hunk = []
        elif hunk is not None and line[:1] in (" ", "-", "+"):
            hunk.append(line)
    flush()
    return calls


def gold_model(instance: Instance) -> ScriptedModel:
    """Looks around with bash (inside the sandbox), applies the gold patch with str_replace, finishes."""
    return ScriptedModel(
        [
            reply(xml_call("bash", command=PROBE), reasoning="Let me look at the repository first."),
            reply(*edit_calls(instance.patch), reasoning="The arithmetic is wrong; fix it."),
            reply(xml_call("finish", summary="fixed the functions"), reasoning="Done."),
        ]
    )


def broken_model(instance: Instance) -> ScriptedModel:
    if instance.repo == "rio-test/words":
        raise ConnectionError("the model server is down")
    return gold_model(instance)


def hang_on_words(instance: Instance) -> ScriptedModel:
    if instance.repo == "rio-test/words":
        return ScriptedModel([lambda messages, tools: time.sleep(600)])
    return gold_model(instance)


def no_model(instance: Instance) -> ScriptedModel:
    raise AssertionError(f"{instance.instance_id} was finished and must not run again")


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    repos = tmp_path / "repos"
    instances = write_instances(
        tmp_path / "instances.json", [build_calc(repos).record, build_words(repos).record]
    )
    monkeypatch.setenv("RIO_TEST_INSTANCES", str(instances))  # pool workers inherit it
    monkeypatch.setenv("RIO_TEST_REPOS", str(repos))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    harness = HarnessConfig(
        cache_dir=str(tmp_path / "cache"),
        repos_dir=str(repos),
        env_table=str(write_table(tmp_path / "table.yaml")),
        hidden=[str(instances)],
        upgrade_pip=False,
    )
    return {"instances": instances, "harness": harness, "out": tmp_path / "out"}


def options(setup: dict[str, Any], factory: str, **extra: Any) -> EvalOptions:
    return EvalOptions(
        instances=load_instances(setup["instances"]),
        out=setup["out"],
        harness=setup["harness"],
        flags={"max_steps": 8},
        model_name="scripted-model",
        model_factory=f"tests.test_swe_runner:{factory}",
        **extra,
    )


def without_index(patch: str) -> str:
    return "\n".join(line for line in patch.splitlines() if not line.startswith("index "))


def test_agent_fixes_instances_in_the_sandbox_and_the_predictions_resolve(setup: dict[str, Any]) -> None:
    code = run_swe(options(setup, "gold_model", executor="local", workers=2, grade=True))
    assert code == 0
    out: Path = setup["out"]
    instances = {i.instance_id: i for i in load_instances(setup["instances"])}
    preds = json.loads((out / "preds.json").read_text())
    assert set(preds) == set(instances)
    for iid, pred in preds.items():
        assert pred["instance_id"] == iid and pred["model_name_or_path"] == "scripted"
        assert without_index(pred["model_patch"]) == without_index(instances[iid].patch)

    results = read_jsonl(out / "results.jsonl")
    calc = results["rio-test__calc-1"]
    assert (calc["status"], calc["exit_reason"], calc["steps"]) == ("done", "finish called", 3)
    assert calc["tokens"]["thinking"] > 0 and calc["tokens"]["total"] > calc["tokens"]["thinking"]
    assert calc["wall_seconds"] > 0 and calc["env_reused"] in (True, False)
    assert set(calc["harness_seconds"]) >= {"workspace", "env_shared", "env_copy", "diff"}

    # What the agent's shell saw: a clean base checkout, the instances file hidden (0 bytes), a read-only
    # world outside the workspace, the upstream repositories (the fix is in them) out of sight, no
    # network, and the repository's tests runnable.
    for iid in instances:
        log = (out / "logs" / f"{iid}.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in log]
        [probe] = [
            e["output"] for e in events if e.get("type") == "tool_finished" and e.get("name") == "bash"
        ]
        lines = probe.strip().splitlines()
        assert lines[0] == "0", probe
        assert "Read-only file system" in lines[1], probe
        assert "No such file or directory" in lines[2], probe
        assert "Network is unreachable" in lines[3] or "timed out" in lines[3], probe
        assert "passed" in lines[4], probe
    assert not Path("/tmp/rio-escape").exists()

    grades = read_jsonl(out / "grades.jsonl")
    assert {k: g["status"] for k, g in grades.items()} == {
        "rio-test__calc-1": "resolved",
        "rio-test__words-1": "resolved",
    }
    assert "**Resolved: 2/2 (100.0%)**" in (out / "report.md").read_text()


def test_rerun_skips_finished_instances_and_retries_errors(setup: dict[str, Any], capsys) -> None:
    assert run_swe(options(setup, "broken_model", executor="inline")) == 1  # one instance errored
    results = read_jsonl(setup["out"] / "results.jsonl")
    assert results["rio-test__words-1"]["status"] == "error"
    assert "the model server is down" in results["rio-test__words-1"]["exit_reason"]
    assert results["rio-test__calc-1"]["status"] == "done"

    assert run_swe(options(setup, "gold_model", executor="inline")) == 0
    assert "1 instance(s) already finished" in capsys.readouterr().err
    lines = (setup["out"] / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["instance_id"] for line in lines] == [
        "rio-test__calc-1",
        "rio-test__words-1",
        "rio-test__words-1",
    ]
    assert read_jsonl(setup["out"] / "results.jsonl")["rio-test__words-1"]["status"] == "done"

    assert run_swe(options(setup, "no_model", executor="inline")) == 0  # everything finished: no work
    assert len((setup["out"] / "results.jsonl").read_text().splitlines()) == 3
    assert "2 instance(s) already finished" in capsys.readouterr().err


SCRIPT = """
import sys
from pathlib import Path
from rioagent.swe.evaluate import EvalOptions, run_swe
from rioagent.swe.harness import HarnessConfig
from rioagent.swe.instances import load_instances
harness = HarnessConfig.from_dict({harness!r})
opts = EvalOptions(instances=load_instances({instances!r}), out=Path({out!r}), harness=harness,
                   executor="local", workers=1, flags={{"max_steps": 8}}, model_name="m",
                   model_factory="tests.test_swe_runner:hang_on_words")
sys.exit(run_swe(opts))
"""


def test_interrupted_run_keeps_what_finished(setup: dict[str, Any]) -> None:
    out: Path = setup["out"]
    script = SCRIPT.format(
        harness=setup["harness"].to_dict(), instances=str(setup["instances"]), out=str(out)
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "rio-test__calc-1" not in read_jsonl(out / "results.jsonl") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        time.sleep(1.0)  # words is now hanging in its model call
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted; 1 instance(s) of this run are saved" in err
    assert set(json.loads((out / "preds.json").read_text())) == {"rio-test__calc-1"}
    assert set(read_jsonl(out / "results.jsonl")) == {"rio-test__calc-1"}

    assert run_swe(options(setup, "gold_model", executor="inline")) == 0  # the rest, and only the rest
    assert set(json.loads((out / "preds.json").read_text())) == {"rio-test__calc-1", "rio-test__words-1"}
    assert len((out / "results.jsonl").read_text().splitlines()) == 2
