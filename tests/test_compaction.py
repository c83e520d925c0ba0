"""Context management: counting, where to cut, the model-written summary, the elision fallback, and that a
session rebuilt from its events equals the live conversation after compaction."""

from __future__ import annotations

import json
from pathlib import Path

from rioagent.agent import Agent
from rioagent.compaction import ContextMeter, estimate_tokens, split_point
from rioagent.config import Settings
from rioagent.events import TRANSIENT_EVENTS, Compacted, Event, Notice, event_from_dict
from rioagent.messages import Usage
from rioagent.models.base import ModelError
from rioagent.transcript import ELIDED, compact_messages, messages_from_events
from tests.scripted_model import ScriptedModel, xml_call


def tool_turn(call_id: str, content: str = "") -> list[dict]:
    call = {"id": call_id, "type": "function", "function": {"name": "bash", "arguments": "{}"}}
    return [
        {"role": "assistant", "content": content, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": f"out {call_id}"},
    ]


HEAD = [{"role": "system", "content": "sys"}, {"role": "user", "content": "task"}]


def test_split_point_never_separates_a_call_from_its_result() -> None:
    two_results = [
        {"role": "assistant", "content": "", "tool_calls": []},
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": "2"},
    ]
    messages = HEAD + two_results + tool_turn("c")  # indexes: 2 asst, 3 tool, 4 tool, 5 asst, 6 tool
    assert split_point(messages, 2) == 5
    assert split_point(messages, 1) == 5
    assert split_point(messages, 3) == 2  # 4 and 3 are results of the call at 2
    assert split_point(messages, 100) == 2  # never into the head


def test_compact_messages_summary_and_elision() -> None:
    messages = HEAD + tool_turn("a") + tool_turn("b") + tool_turn("c")
    summarised = compact_messages(messages, "SUMMARY", 4)
    assert summarised == [*HEAD, {"role": "user", "content": "SUMMARY"}, *tool_turn("c")]
    elided = compact_messages(messages, "", 2)
    assert [m["content"] for m in elided if m["role"] == "tool"] == [ELIDED, ELIDED, "out c"]
    assert messages[3]["content"] == "out a"  # the input is left alone
    assert [m["content"] for m in compact_messages(elided, "", 1) if m["role"] == "tool"] == [ELIDED] * 3


class CountingModel:
    name, backend, context_window = "m", "test", 1000

    def __init__(self, answer):
        self.answer = answer

    def count_tokens(self, messages):
        return self.answer


def test_context_meter() -> None:
    messages = HEAD + tool_turn("a")
    assert ContextMeter(CountingModel(1234)).count(messages) == 1234
    meter = ContextMeter(CountingModel(None))
    assert meter.count(messages) == estimate_tokens(messages)
    meter.observe(Usage(prompt_tokens=500, completion_tokens=20), n_messages=3)
    assert meter.count(messages) == 520 + estimate_tokens(messages[3:])
    meter.reset()
    assert meter.count(messages) == estimate_tokens(messages)


# ---- in the loop ---------------------------------------------------------------------------------------


def build(tmp_path: Path, summaries: list) -> tuple[Agent, ScriptedModel]:
    repo = tmp_path / "repo"
    repo.mkdir()
    turns = [
        xml_call("create", path="notes.txt", content="remember the milk\n"),
        xml_call("bash", command="python3 -c \"print('x' * 3200)\""),
        xml_call("bash", command="python3 -c \"print('y' * 2000)\""),
        xml_call("view", path="notes.txt"),
        xml_call("finish", summary="done"),
    ]
    model = ScriptedModel(turns, summaries=summaries)
    settings = Settings(approval="auto", compact_at=0.5, keep_recent_messages=2)
    agent = Agent(model, settings, repo, session_id="c1", state_dir=tmp_path / "state")
    # The threshold sits between "after the 3200-character output" and "after the 2000-character one".
    threshold = estimate_tokens(agent.messages) + 1200
    model.context_window = int(threshold / settings.compact_at)
    return agent, model


def rebuilt(agent: Agent, events: list[Event]) -> list[dict]:
    kept = [e for e in events if not isinstance(e, TRANSIENT_EVENTS)]
    logged = [event_from_dict(json.loads(json.dumps(e.to_dict()))) for e in kept]
    return messages_from_events(logged, agent.system_prompt)


def assert_pairs_intact(messages: list[dict]) -> None:
    open_ids: set[str] = set()
    for msg in messages:
        if msg["role"] == "assistant":
            open_ids = {c["id"] for c in msg.get("tool_calls", [])}
        elif msg["role"] == "tool":
            assert msg["tool_call_id"] in open_ids, f"tool result {msg['tool_call_id']} lost its call"


async def test_compaction_summarises_with_the_model(tmp_path: Path) -> None:
    agent, model = build(tmp_path, ["Created notes.txt. Printed x*3200 to test output. Next: view notes."])
    try:
        events = [e async for e in agent.run("Take notes and print things")]
    finally:
        agent.close()
    assert events[-1].status == "done"
    compacted = [e for e in events if isinstance(e, Compacted)]
    assert len(compacted) == 1
    event = compacted[0]
    assert event.messages_removed == 4 and event.tokens_after < event.tokens_before
    assert "Summary of earlier work" in event.summary and "Printed x*3200" in event.summary
    assert "Files touched so far: notes.txt" in event.summary

    summary_calls = [c for c in model.calls if not c["tools"]]
    assert len(summary_calls) == 1
    prompt = summary_calls[0]["messages"][0]["content"]
    assert "Take notes and print things" in prompt and "xxxx" in prompt and "remember the milk" in prompt

    before, after = model.agent_calls[2]["messages"], model.agent_calls[3]["messages"]
    assert after[:2] == before[:2]  # system prompt and task stay
    assert after[2] == {"role": "user", "content": event.summary}
    # The last two messages (step 3's call and its result) are kept whole; steps 1 and 2 are gone.
    assert len(after) == 5 and after[3]["role"] == "assistant" and after[4]["role"] == "tool"
    assert "'y' * 2000" in after[3]["tool_calls"][0]["function"]["arguments"]
    assert "y" * 100 in after[4]["content"]
    assert all(m not in after for m in before[2:])
    for call in model.agent_calls:
        assert_pairs_intact(call["messages"])
    assert rebuilt(agent, events) == agent.messages


async def test_failed_summary_falls_back_to_eliding_old_outputs(tmp_path: Path) -> None:
    agent, model = build(tmp_path, [ModelError("the server went away")])
    try:
        events = [e async for e in agent.run("Take notes and print things")]
    finally:
        agent.close()
    assert events[-1].status == "done"
    notice = next(e for e in events if isinstance(e, Notice))
    assert "the server went away" in notice.message and "eliding" in notice.message
    compacted = next(e for e in events if isinstance(e, Compacted))
    assert compacted.summary == "" and compacted.messages_removed == 2
    after = model.agent_calls[3]["messages"]
    tools = [m for m in after if m["role"] == "tool"]
    assert [m["content"] == ELIDED for m in tools] == [True, True, False]
    assert len(after) == len(model.agent_calls[2]["messages"]) + 2  # nothing removed, only emptied
    assert rebuilt(agent, events) == agent.messages


async def test_compact_on_request(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    turns = [xml_call("view", path="."), xml_call("view", path="."), xml_call("finish", summary="ok")]
    model = ScriptedModel(turns, summaries=["looked at the folder twice"])
    agent = Agent(model, Settings(approval="auto", keep_recent_messages=2), repo, session_id="c2",
                  state_dir=tmp_path / "state")  # fmt: skip
    events = [e async for e in agent.run("look")]
    forced = [e async for e in agent.compact()]
    assert len(forced) == 1 and isinstance(forced[0], Compacted)
    assert agent.messages[2]["content"] == forced[0].summary and agent.messages[-2]["role"] == "assistant"
    assert rebuilt(agent, events + forced) == agent.messages
