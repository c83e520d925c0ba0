"""The agent loop with the scripted model, the real tools, real bash and a real git repository."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from rioagent.agent import Agent
from rioagent.config import Settings
from rioagent.events import (
    TRANSIENT_EVENTS,
    AssistantMessage,
    Checkpoint,
    ContentDelta,
    Event,
    Finished,
    ReasoningDelta,
    SessionStarted,
    StepStarted,
    ToolFinished,
    ToolStarted,
    UserMessage,
    event_from_dict,
)
from rioagent.messages import ModelReply, ToolCall
from rioagent.models.base import ModelUnreachable
from rioagent.transcript import messages_from_events
from tests.scripted_model import ScriptedModel, reply, xml_call

BUGGY = "def add(a, b):\n    return a - b\n"
CHECK = 'from calc import add\n\nassert add(2, 3) == 5, "add(2, 3) should be 5"\nprint("all good")\n'


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "t")
    (path / "README.md").write_text("demo\n")
    (path / ".gitignore").write_text("__pycache__/\n")
    git(path, "add", ".")
    git(path, "commit", "-qm", "init")
    return path


def make_agent(repo: Path, model: ScriptedModel, **settings_kw) -> Agent:
    settings = Settings(**{"approval": "auto", **settings_kw})
    return Agent(model, settings, repo, session_id="test-session", state_dir=repo.parent / "state")


async def collect(agent: Agent, task: str) -> list[Event]:
    return [event async for event in agent.run(task)]


def kinds(events: list[Event]) -> list[str]:
    return [e.type for e in events if not isinstance(e, TRANSIENT_EVENTS)]


def rebuilt(agent: Agent, events: list[Event]) -> list[dict]:
    """Events through JSON (as the session log stores them), then back into messages."""
    kept = [e for e in events if not isinstance(e, TRANSIENT_EVENTS)]
    logged = [event_from_dict(json.loads(json.dumps(e.to_dict()))) for e in kept]
    return messages_from_events(logged, agent.system_prompt)


def finish(summary: str = "done") -> str:
    return xml_call("finish", summary=summary)


async def test_fix_a_bug_end_to_end(repo: Path) -> None:
    model = ScriptedModel([
        reply(
            xml_call("create", path="calc.py", content=BUGGY),
            xml_call("create", path="check.py", content=CHECK),
            text="Creating the module and a check.",
            reasoning="First write the files.",
        ),
        reply(xml_call("bash", command="python3 check.py"), reasoning="Run the check."),
        reply(xml_call("str_replace", path="calc.py", old_str="return a - b", new_str="return a + b"),
              reasoning="The sign is wrong."),
        reply(xml_call("bash", command="python3 check.py"), reasoning="Check again."),
        reply(finish("Fixed add() in calc.py; check.py passes.")),
    ])  # fmt: skip
    agent = make_agent(repo, model)
    try:
        events = await collect(agent, "Write calc.add and make check.py pass")
    finally:
        agent.close()

    assert isinstance(events[0], SessionStarted) and isinstance(events[-1], Finished)
    assert any(isinstance(e, ReasoningDelta) for e in events)
    assert any(isinstance(e, ContentDelta) for e in events)
    plain = ["step_started", "assistant_message", "tool_started", "tool_finished"]
    step1 = [*plain, "tool_started", "tool_finished", "checkpoint"]
    expected = ["session_started", *step1, *plain, *plain, "checkpoint", *plain, *plain, "result"]
    assert kinds(events) == expected
    done = events[-1]
    assert done.status == "done" and done.summary == "Fixed add() in calc.py; check.py passes."
    assert done.steps == 5 and done.usage["total_tokens"] == agent.usage.total_tokens > 0
    assert "+    return a + b" in done.patch and "b/check.py" in done.patch
    assert (repo / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"

    runs = [e for e in events if isinstance(e, ToolFinished) and e.name == "bash"]
    assert runs[0].is_error and "should be 5" in runs[0].output
    assert not runs[1].is_error and "all good" in runs[1].output
    checkpoints = [e for e in events if isinstance(e, Checkpoint)]
    assert [c.step for c in checkpoints] == [1, 3]
    assert sorted(checkpoints[0].changed_paths) == ["calc.py", "check.py"]
    assert checkpoints[1].changed_paths == ["calc.py"]
    assert git(repo, "rev-parse", checkpoints[1].ref).strip() == checkpoints[1].commit

    # What the model was sent back: its thought, its calls in OpenAI form, the prose outside them.
    second = model.calls[1]["messages"]
    assistant = second[2]
    assert assistant["role"] == "assistant" and assistant["reasoning_content"] == "First write the files."
    assert assistant["content"] == "Creating the module and a check."
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["create", "create"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"])["path"] == "calc.py"
    assert [m["role"] for m in second[3:]] == ["tool", "tool"]
    assert [m["tool_call_id"] for m in second[3:]] == [c["id"] for c in assistant["tool_calls"]]
    assert {t["function"]["name"] for t in model.calls[0]["tools"]} >= {"bash", "create", "finish"}

    assert rebuilt(agent, events) == agent.messages


async def test_malformed_call_gets_a_correction_then_recovers(repo: Path) -> None:
    model = ScriptedModel([xml_call("no_such_tool", x="1"), finish("ok")])
    agent = make_agent(repo, model)
    events = await collect(agent, "do it")
    assert events[-1].status == "done"
    corrections = [e for e in events if isinstance(e, UserMessage)]
    assert len(corrections) == 1
    assert "no_such_tool" in corrections[0].content and "<function=TOOL_NAME>" in corrections[0].content
    assert model.calls[1]["messages"][-1] == {"role": "user", "content": corrections[0].content}
    assert model.calls[1]["messages"][-2]["content"] == xml_call("no_such_tool", x="1")  # what it wrote
    assert rebuilt(agent, events) == agent.messages


async def test_too_many_malformed_replies_in_a_row_stop_the_run(repo: Path) -> None:
    bad = xml_call("no_such_tool", x="1")
    model = ScriptedModel([bad, bad, bad, finish()])
    agent = make_agent(repo, model, max_format_errors=3)
    events = await collect(agent, "do it")
    assert events[-1].status == "error" and "3 malformed" in events[-1].reason
    assert len(model.calls) == 3 and sum(isinstance(e, UserMessage) for e in events) == 2


async def test_a_reply_without_a_tool_call_gets_a_nudge(repo: Path) -> None:
    model = ScriptedModel(["I believe it is done.", finish("ok")])
    agent = make_agent(repo, model)
    events = await collect(agent, "do it")
    nudge = [e for e in events if isinstance(e, UserMessage)]
    assert len(nudge) == 1 and "tool call" in nudge[0].content and "finish" in nudge[0].content
    assert events[-1].status == "done"


async def test_nudges_count_as_format_errors(repo: Path) -> None:
    model = ScriptedModel(["thinking aloud", "still talking", finish()])
    agent = make_agent(repo, model, max_format_errors=2)
    events = await collect(agent, "do it")
    assert events[-1].status == "error" and "without a tool call" in events[-1].reason


async def test_repeated_calls_are_warned_then_stopped(repo: Path) -> None:
    same = xml_call("bash", command="echo same")
    model = ScriptedModel([same, same, same, same, finish()])
    agent = make_agent(repo, model, max_repeats=3)
    try:
        events = await collect(agent, "loop")
    finally:
        agent.close()
    results = [e for e in events if isinstance(e, ToolFinished)]
    assert "warning" not in results[1].output
    assert "3 times in a row" in results[2].output and "same" in results[2].output
    assert results[3].is_error and "not run" in results[3].output
    assert events[-1].status == "limit" and events[-1].reason == "repeated the same call"
    assert len(model.calls) == 4


async def test_step_limit(repo: Path) -> None:
    model = ScriptedModel([xml_call("view", path="README.md"), xml_call("view", path="."), finish()])
    agent = make_agent(repo, model, max_steps=2)
    events = await collect(agent, "look around")
    assert events[-1].status == "limit" and events[-1].reason == "step limit (2) reached"
    assert events[-1].steps == 2 and len(model.calls) == 2


async def test_token_limit(repo: Path) -> None:
    model = ScriptedModel([xml_call("view", path="README.md"), finish()])
    agent = make_agent(repo, model, max_tokens=50)
    events = await collect(agent, "look " * 100)
    assert events[-1].status == "limit" and events[-1].reason.startswith("token limit (50) reached")
    assert len(model.calls) == 1


async def test_wall_time_limit_cuts_a_long_command(repo: Path) -> None:
    model = ScriptedModel([xml_call("bash", command="sleep 20"), finish()])
    agent = make_agent(repo, model, max_seconds=1)
    started = time.monotonic()
    try:
        events = await collect(agent, "wait")
    finally:
        agent.close()
    assert events[-1].status == "limit" and events[-1].reason == "time limit (1s) reached"
    assert time.monotonic() - started < 5
    assert rebuilt(agent, events) == agent.messages


async def test_model_unreachable_ends_with_an_error(repo: Path) -> None:
    down = ModelUnreachable("cannot reach http://127.0.0.1:9/v1: connection refused; is the server running?")
    model = ScriptedModel([xml_call("view", path="README.md"), finish()], fail_at={1: down})
    agent = make_agent(repo, model)
    events = await collect(agent, "look")
    assert isinstance(events[0], SessionStarted)
    assert events[-1].status == "error" and events[-1].reason == str(down)
    assert isinstance(agent.last_error, ModelUnreachable)
    assert events[-1].steps == 2


async def test_native_tool_calls_are_used_as_given(repo: Path) -> None:
    native = ModelReply(content="", tool_calls=[ToolCall("finish", {"summary": "native"}, "srv-1")])
    model = ScriptedModel([native])
    agent = make_agent(repo, model)
    events = await collect(agent, "x")
    assert events[-1].status == "done" and events[-1].summary == "native"
    assert agent.messages[-2]["tool_calls"][0]["id"] == "srv-1"
    assert agent.messages[-1] == {"role": "tool", "tool_call_id": "srv-1", "content": "native"}


async def test_agents_md_goes_into_the_system_prompt(repo: Path) -> None:
    (repo / "AGENTS.md").write_text("Always run `make check` before finishing.\n" + "x" * 30_000)
    model = ScriptedModel([finish()])
    agent = make_agent(repo, model)
    await collect(agent, "x")
    system = model.calls[0]["messages"][0]
    assert system["role"] == "system" and "Always run `make check` before finishing." in system["content"]
    assert str(repo) in system["content"]
    assert "AGENTS.md cut at 20000 characters" in system["content"] and len(system["content"]) < 25_000
    assert "<tool_call>" not in system["content"]  # the chat template describes the format


async def test_interrupt_a_long_command_then_run_again(repo: Path) -> None:
    model = ScriptedModel([xml_call("bash", command="sleep 30"), finish("second run")])
    agent = make_agent(repo, model)
    events: list[Event] = []
    try:
        started = 0.0
        async for event in agent.run("wait forever"):
            events.append(event)
            if isinstance(event, ToolStarted):
                started = time.monotonic()
                threading.Timer(0.3, agent.interrupt).start()  # from another thread, as a UI would
        elapsed = time.monotonic() - started
        assert events[-1].status == "interrupted" and elapsed < 2.5
        result = next(e for e in events if isinstance(e, ToolFinished))
        tool_message = {"role": "tool", "tool_call_id": result.call_id, "content": result.output}
        assert agent.messages[-1] == tool_message

        again = await collect(agent, "never mind, finish")
        assert again[-1].status == "done" and again[-1].summary == "second run"
        assert isinstance(again[0], SessionStarted) and again[0].resumed
        sent = model.calls[1]["messages"]
        assert sent[-1] == {"role": "user", "content": "never mind, finish"}
        assert rebuilt(agent, events + again) == agent.messages
    finally:
        agent.close()


async def test_interrupt_while_the_model_streams(repo: Path) -> None:
    model = ScriptedModel([reply(finish("x"), reasoning="a long thought " * 50)], chunk_delay=0.02)
    agent = make_agent(repo, model)
    events: list[Event] = []
    async for event in agent.run("think"):
        events.append(event)
        if isinstance(event, ReasoningDelta) and len(events) == 3:
            agent.interrupt()
    assert events[-1].status == "interrupted"
    assert not any(isinstance(e, AssistantMessage) for e in events)
    assert [m["role"] for m in agent.messages] == ["system", "user"]


async def test_first_event_and_last_event_even_when_the_script_breaks(repo: Path) -> None:
    model = ScriptedModel([RuntimeError("boom")])
    agent = make_agent(repo, model)
    events = await collect(agent, "x")
    assert isinstance(events[0], SessionStarted) and isinstance(events[-1], Finished)
    assert events[-1].status == "error" and "boom" in events[-1].reason
    assert isinstance(agent.last_error, RuntimeError)


async def test_resume_from_events_continues_the_conversation(repo: Path) -> None:
    model = ScriptedModel([xml_call("view", path="README.md"), finish("first")])
    agent = make_agent(repo, model)
    events = await collect(agent, "read the readme")
    logged = [e for e in events if not isinstance(e, TRANSIENT_EVENTS)]

    model2 = ScriptedModel([finish("second")])
    resumed = Agent(model2, Settings(approval="auto"), repo, session_id="test-session",
                    history=logged, state_dir=repo.parent / "state")  # fmt: skip
    assert resumed.messages == agent.messages and resumed.step == 2
    more = await collect(resumed, "and now?")
    assert more[0].resumed and more[-1].status == "done"
    assert isinstance(more[1], StepStarted) and more[1].step == 3
    assert model2.calls[0]["messages"][:-1] == agent.messages


def test_agent_construction_does_not_block_the_loop(repo: Path) -> None:
    # run() must be drivable from asyncio.run with nothing else set up (the headless path).
    model = ScriptedModel([finish("ok")])
    agent = make_agent(repo, model)
    events = asyncio.run(collect(agent, "x"))
    assert events[-1].status == "done"


async def test_resume_after_a_crash_mid_step_answers_the_dangling_call(repo: Path) -> None:
    model = ScriptedModel([xml_call("view", path="README.md"), finish("first")])
    agent = make_agent(repo, model)
    events = await collect(agent, "read the readme")
    cut = next(i for i, e in enumerate(events) if isinstance(e, ToolStarted))
    crashed = [e for e in events[: cut + 1] if not isinstance(e, TRANSIENT_EVENTS)]  # no result was logged

    model2 = ScriptedModel([finish("second")])
    resumed = Agent(model2, Settings(approval="auto"), repo, session_id="test-session",
                    history=crashed, state_dir=repo.parent / "state")  # fmt: skip
    more = await collect(resumed, "go on")
    assert more[-1].status == "done"
    sent = model2.calls[0]["messages"]
    call_id = sent[2]["tool_calls"][0]["id"]
    assert (
        sent[3]["role"] == "tool" and sent[3]["tool_call_id"] == call_id and "no result" in sent[3]["content"]
    )
    assert sent[4] == {"role": "user", "content": "go on"}
    assert rebuilt(resumed, crashed + more) == resumed.messages
