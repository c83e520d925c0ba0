"""A running command's output reaches the front end while it runs, in bounded batches, and stays out of
the session log and the model's messages (ToolFinished carries what the model sees)."""

from __future__ import annotations

from pathlib import Path

from rioagent.events import TRANSIENT_EVENTS, ToolFinished, ToolOutputDelta
from rioagent.live_output import LiveOutput
from tests.scripted_model import ScriptedModel, reply, xml_call
from tests.test_agent import collect, finish, make_agent, repo  # noqa: F401  (repo is a fixture)


async def test_output_streams_before_the_command_finishes(repo: Path) -> None:  # noqa: F811
    slow = "for i in 1 2 3 4; do echo line$i; sleep 0.4; done"
    model = ScriptedModel([reply(xml_call("bash", command=slow)), reply(finish())])
    agent = make_agent(repo, model)
    try:
        events = await collect(agent, "print four lines slowly")
    finally:
        agent.close()
    finished_at = next(i for i, e in enumerate(events) if isinstance(e, ToolFinished))
    deltas = [(i, e) for i, e in enumerate(events) if isinstance(e, ToolOutputDelta)]
    assert len(deltas) >= 2, "the output should arrive in several batches while the command runs"
    assert all(i < finished_at for i, _ in deltas)
    assert deltas[0][1].text.startswith("line1") and "line4" not in deltas[0][1].text
    assert "".join(e.text for _, e in deltas) == "line1\nline2\nline3\nline4\n"
    assert ToolOutputDelta in TRANSIENT_EVENTS  # never in the session log or stream-json
    sent = str(model.calls[-1]["messages"])
    assert sent.count("line1") == 1  # the model got the output once, from ToolFinished


def test_a_flood_keeps_only_a_bounded_tail_and_says_how_much_it_skipped() -> None:
    live = LiveOutput(limit=1000)
    for i in range(10_000):
        live(f"{i:05d}\n")
    text = live.take()
    assert text.startswith("[... 59000 characters skipped in the live view ...]\n")
    assert text.endswith("09999\n") and len(text) < 1100
    assert live.take() == ""


async def test_the_tui_shows_a_running_commands_output_before_it_ends(tmp_path: Path) -> None:
    from rioagent.tui.widgets.tool_call import ToolCallView
    from tests.test_tui_app import make_app, make_repo, type_and_send, wait_for, wait_idle

    work = make_repo(tmp_path / "work")
    slow = "echo first; sleep 3; echo second"
    model = ScriptedModel([reply(xml_call("bash", command=slow)), reply(finish())])
    app = make_app(work, model, approval="auto")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_idle(pilot, app)
        await type_and_send(pilot, app, "run it")

        def running_with_output() -> bool:
            views = list(app.conversation.query(ToolCallView))
            return bool(views) and views[-1].state == "running" and "first" in views[-1].output

        await wait_for(pilot, running_with_output, timeout=8)
        assert "second" not in app.conversation.query(ToolCallView).last().output
        await wait_idle(pilot, app)
        view = app.conversation.query(ToolCallView).first()
        assert view.state == "done" and "first" in view.output and "second" in view.output
