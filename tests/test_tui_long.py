"""Long sessions: a resumed 2,000-message session opens with only its tail built, earlier steps come in
as the view is scrolled up, and a prompt sent afterwards streams as usual."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from rioagent.events import AssistantMessage, Event, SessionStarted, StepStarted, ToolFinished, ToolStarted
from rioagent.session import SessionLog
from rioagent.tui.widgets.conversation import WINDOW, EarlierMarker
from rioagent.tui.widgets.tool_call import ToolCallView
from tests.scripted_model import ScriptedModel, reply, xml_call
from tests.test_tui_app import make_app, make_repo, type_and_send, wait_for, wait_idle


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def long_history(workspace: Path, steps: int) -> list[Event]:
    """One run of `steps` steps: each an assistant message and a tool result (2 messages a step)."""
    events: list[Event] = [
        SessionStarted(
            session_id="s", task="read every file", workspace=str(workspace), model="m", backend="b"
        )
    ]
    for i in range(1, steps + 1):
        call = {"id": f"c{i}", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
        events += [
            StepStarted(step=i),
            AssistantMessage(
                i, f"Reading **file{i}.py**.", "Next file. " * 20, [call], {"prompt_tokens": 50}
            ),
            ToolStarted(step=i, call_id=f"c{i}", name="bash", arguments={"command": f"cat file{i}.py"}),
            ToolFinished(step=i, call_id=f"c{i}", name="bash", output=f"# file {i}\n" * 8),
        ]
    return events


async def test_resume_a_2000_message_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo")
    with SessionLog("20260101-000000-abcdef") as log:
        for event in long_history(repo, 1000):
            log.append(event)
    model = ScriptedModel([reply(xml_call("finish", summary="All read."), reasoning="Done.")])
    started = time.monotonic()
    app = make_app(repo, model, session_id="20260101")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_idle(pilot, app)
        opened = time.monotonic() - started
        conversation = app.conversation
        shown = conversation.items()
        assert len(shown) <= WINDOW + 10  # only the tail is built
        assert [t.arguments["command"] for t in conversation.query(ToolCallView)][-1] == "cat file1000.py"
        [marker] = conversation.query(EarlierMarker)
        assert f"{len(conversation.earlier)} earlier" in str(marker.render()) and conversation.earlier
        assert opened < 20, f"opening took {opened:.1f}s"  # generous: the CI box may be slow

        # Scrolling to the top brings earlier steps in above, and the view stays where it was.
        conversation.focus()
        before = len(conversation.earlier)
        conversation.scroll_home(animate=False)
        await wait_for(pilot, lambda: len(conversation.earlier) < before)
        assert len(conversation.items()) > len(shown)
        await wait_for(pilot, lambda: conversation.scroll_y > 0)  # held in place, not thrown to the new top

        # Home brings a bigger batch and goes to the top of it. (Reaching the top then brings in the next
        # batch above and holds the view in place, as scrolling up does: the top is seen passing, once the
        # batch is laid out, which a loaded machine takes a few frames to do.)
        positions: list[float] = []
        watch = type(conversation).watch_scroll_y

        def watched(self: Any, old: float, new: float) -> None:
            positions.append(new)
            watch(self, old, new)

        monkeypatch.setattr(type(conversation), "watch_scroll_y", watched)
        before, mounted = len(conversation.earlier), len(conversation.items())
        await pilot.press("home")
        await wait_for(pilot, lambda: len(conversation.earlier) < before)
        await wait_for(pilot, lambda: 0 in positions)
        assert len(conversation.items()) > mounted

        # Still a working session: the model sees all of it and the answer streams in.
        await type_and_send(pilot, app, "done?")
        await wait_idle(pilot, app)
        sent: Any = model.agent_calls[0]["messages"]
        assert len(sent) >= 2000
