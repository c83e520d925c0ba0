"""The fixed agent steps of evals/agent_steps/ that the thinking-token benchmark runs, and its loader."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

EVALS = Path(__file__).resolve().parent.parent / "evals"
sys.path.insert(0, str(EVALS))

from bench_swi_steps import STEPS_FILE, load_steps, step_messages  # noqa: E402

from rioagent.toolcalls import parse_tool_calls  # noqa: E402
from rioagent.tools.base import load_specs  # noqa: E402


def test_the_set_has_trivial_steps_and_steps_that_need_thought():
    workspace, steps = load_steps(STEPS_FILE)
    assert workspace == "/repo" and len(steps) >= 10
    kinds = [s["kind"] for s in steps]
    assert kinds.count("trivial") >= 4 and kinds.count("needs-thought") >= 4
    assert len({s["id"] for s in steps}) == len(steps)
    assert any(not s["history"] for s in steps)  # a first step, before any tool ran
    tools = {spec.name for spec in load_specs()}
    for step in steps:
        assert all(turn["tool"] in tools for turn in step["history"]), step["id"]
        assert step["expected"].strip()


def test_each_step_renders_as_the_agent_would_send_it():
    workspace, steps = load_steps(STEPS_FILE)
    schemas = {spec.name: spec.parameters for spec in load_specs()}
    step = next(s for s in steps if s["id"] == "tests-pass-finish")
    messages = step_messages(step, workspace)
    assert [m["role"] for m in messages] == ["system", "user"] + ["assistant", "tool"] * 3
    assert "Workspace: /repo" in messages[0]["content"] and step["task"] in messages[1]["content"]
    assert messages[-1]["content"].startswith(".....\n5 passed")
    # Past calls are written in the model's own XML and parse back to the recorded call.
    parsed = parse_tool_calls(messages[2]["content"], schemas)
    assert [(c.name, c.arguments) for c in parsed.calls] == [("bash", step["history"][0]["arguments"])]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"steps": []}, "non-empty 'steps'"),
        ({"steps": [{"id": "a", "kind": "trivial", "task": "t"}]}, "step 0 lacks history"),
        ({"steps": [{"id": "a", "kind": "x", "task": "t", "history": []}]}, "use trivial or needs-thought"),
    ],
)
def test_a_malformed_steps_file_is_named_with_what_is_wrong(tmp_path, doc, message):
    path = tmp_path / "steps.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match=message):
        load_steps(path)
