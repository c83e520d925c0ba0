"""A live session that grows long: the view keeps a bounded number of widgets mounted while it follows
the output (the oldest are unmounted behind the "earlier" marker), Home and scrolling to the top bring
them back as they were, a long streamed answer is trimmed inside its own step, and /undo of a trimmed
step takes its trimmed widgets too. Events go through Conversation.show, the app's one entry point."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import pytest

from rioagent.events import ContentDelta, StepStarted, Undone
from rioagent.tui.widgets.assistant_text import AssistantText
from rioagent.tui.widgets.conversation import LIVE_BUDGET, EarlierMarker
from rioagent.tui.widgets.recipes import Trimmed, weight
from rioagent.tui.widgets.tool_call import ToolCallView
from rioagent.tui.widgets.user_prompt import UserPrompt
from tests.scripted_model import ScriptedModel, reply, xml_call
from tests.test_tui_app import make_app, make_repo, type_and_send, wait_for, wait_idle
from tests.test_tui_long import long_history


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def mounted_weight(conversation: Any) -> int:
    return sum(weight(w) for w in conversation.items())


STEPS = 100  # 200 messages here (the bench and the trimming do not depend on the total: kept fast)


async def test_a_long_live_session_stays_bounded_and_home_brings_it_back(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    model = ScriptedModel([reply(xml_call("finish", summary="All read."), reasoning="Done.")])
    app = make_app(repo, model, approval="auto")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_idle(pilot, app)
        conversation = app.conversation
        peak = 0
        per_event: list[float] = []
        for i, event in enumerate(long_history(repo, STEPS)):
            started = time.monotonic()
            await conversation.show(event)
            per_event.append(time.monotonic() - started)
            if i % 50 == 0:
                await pilot.pause()
                peak = max(peak, mounted_weight(conversation))
        await pilot.pause()
        peak = max(peak, mounted_weight(conversation))
        assert peak <= LIVE_BUDGET + 10, f"{peak} nodes mounted"
        assert len(conversation.items()) < 100
        assert all(isinstance(p, Trimmed) for p in conversation.earlier) and len(conversation.earlier) > 200
        [marker] = conversation.query(EarlierMarker)
        assert f"{len(conversation.earlier)} earlier" in str(marker.render())
        newest = [t.arguments["command"] for t in conversation.query(ToolCallView)]
        assert newest[-1] == f"cat file{STEPS}.py" and "cat file1.py" not in newest
        # Showing an event costs the same late in the session as early on (generous: a shared CI box).
        early, late = sum(per_event[40:140]), sum(per_event[-100:])
        assert late < 4 * early, f"the last 100 events took {late:.2f}s, events 40-140 {early:.2f}s"

        # Scrolling to the top brings the previous widgets back above, where they were.
        conversation.focus()
        before, mounted = len(conversation.earlier), len(conversation.items())
        conversation.scroll_home(animate=False)
        await wait_for(pilot, lambda: len(conversation.earlier) < before)
        assert len(conversation.items()) > mounted

        # Home, again and again, reaches the session's first step; the copies are what was shown.
        for _ in range(20):
            if not conversation.earlier:
                break
            await pilot.press("home")
            await pilot.pause()
        assert not conversation.earlier and not conversation.query(EarlierMarker)
        tools = list(conversation.query(ToolCallView))
        assert [t.arguments["command"] for t in tools[:2]] == ["cat file1.py", "cat file2.py"]
        assert tools[0].output == "# file 1\n" * 8 and tools[0].state == "done"
        assert [t.arguments["command"] for t in tools] == [f"cat file{i}.py" for i in range(1, STEPS + 1)]
        first = conversation.items()[0]
        assert isinstance(first, UserPrompt) and first.prompt_text == "read every file"
        texts = [w.source for w in conversation.query(AssistantText)]
        assert texts[0] == "Reading **file1.py**." and texts[-1] == f"Reading **file{STEPS}.py**."

        # Scrolled up, nothing is trimmed under the reader; back at the bottom, trimming resumes.
        await conversation.show(StepStarted(step=STEPS + 1))
        await pilot.pause()
        assert len(conversation.query(ToolCallView)) == STEPS
        conversation.scroll_end(animate=False, immediate=True)
        conversation.anchor()
        await type_and_send(pilot, app, "done?")
        await wait_idle(pilot, app)
        assert mounted_weight(conversation) <= LIVE_BUDGET + 10 and conversation.earlier
        assert gc.isenabled()  # the collector stays on: only full collections wait for a quiet moment


async def test_a_long_streamed_answer_is_trimmed_within_its_step_and_undo_takes_it_all(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo")
    model = ScriptedModel([reply(xml_call("finish", summary="ok"))])
    app = make_app(repo, model, approval="auto")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_idle(pilot, app)
        conversation = app.conversation
        await conversation.show(StepStarted(step=1))
        paragraphs = [f"Paragraph {i} " + "word " * 40 + "\n\n" for i in range(400)]
        for paragraph in paragraphs:
            for piece in paragraph.split(" "):
                await conversation.show(ContentDelta(text=piece + " "))
            await conversation.flush()
        await pilot.pause()
        assert mounted_weight(conversation) <= LIVE_BUDGET + 30
        assert conversation.earlier and all(p.step == 1 for p in conversation.earlier)  # type: ignore[union-attr]
        streaming = conversation._text
        assert streaming is not None and streaming.is_attached  # the live widget is never trimmed

        # /undo of the step: the trimmed parts go with the mounted ones.
        await conversation.show(Undone(step=1, messages_kept=0, restored_paths=[], prompt=False))
        await pilot.pause()
        assert not conversation.earlier and not conversation.query(AssistantText)
        assert not conversation.query(EarlierMarker)


async def test_a_trimmed_answer_comes_back_whole(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    model = ScriptedModel([reply(xml_call("finish", summary="ok"))])
    app = make_app(repo, model, approval="auto")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_idle(pilot, app)
        conversation = app.conversation
        await conversation.show(StepStarted(step=1))
        text = "".join(f"Paragraph {i} " + "word " * 40 + "\n\n" for i in range(300))
        for start in range(0, len(text), 50):
            await conversation.show(ContentDelta(text=text[start : start + 50]))
            if start % 500 == 0:
                await conversation.flush()  # as the flush timer does while it streams
        await conversation.flush()
        await pilot.pause()
        assert conversation.earlier
        while conversation.earlier:
            await conversation.load_earlier(10_000)
        await pilot.pause()
        shown = "".join(w.source for w in conversation.query(AssistantText))
        assert shown.split() == text.split()
