"""Snapshots of the TUI's main states (pytest-textual-snapshot). Update after a deliberate change with
`pytest tests/test_tui_snapshots.py --snapshot-update`, and look at the SVGs in tests/__snapshots__/.

A fixed clock and logged (replayed) events keep every frame the same from run to run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rioagent.config import Settings
from rioagent.events import (
    AssistantMessage,
    Checkpoint,
    Event,
    Finished,
    Notice,
    SessionStarted,
    StepStarted,
    ToolFinished,
    ToolStarted,
)
from rioagent.tui.app import RioApp
from rioagent.tui.history import PromptHistory
from rioagent.tui.screens.approval import ApprovalScreen
from tests.scripted_model import ScriptedModel
from tests.test_tui_app import edit_turn, make_repo, type_and_send, wait_for

DIFF = (
    "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
)


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def finished_task(workspace: Path) -> list[Event]:
    """A whole task as a session log holds it: a thought, an edit with its diff, a search, a failing
    command, a warning, the result."""
    figures = {"mode": "on", "thinking_tokens": 42, "injections": []}

    def turn(step: int, text: str, tokens: int = 42) -> AssistantMessage:
        usage = {"prompt_tokens": 900 * step, "completion_tokens": 60, "reasoning_tokens": tokens}
        return AssistantMessage(
            step, text, "Thinking about the sign of add().", [], usage, 900 * step, figures
        )

    grep = "calc.py:2:    return a + b\ntests/test_calc.py:4:    assert add(2, 3) == 5\n"
    return [
        SessionStarted(
            session_id="s1",
            task="fix add in calc.py",
            workspace=str(workspace),
            model="qwen3.5",
            backend="endpoint",
        ),
        StepStarted(step=1),
        turn(1, "The **sign** is wrong in `add`."),
        ToolStarted(step=1, call_id="c1", name="str_replace", arguments={"path": "calc.py"}),
        ToolFinished(
            step=1,
            call_id="c1",
            name="str_replace",
            output="Edited calc.py",
            seconds=0.2,
            changed_paths=["calc.py"],
            data={"diff": DIFF},
        ),
        Checkpoint(step=1, ref="r", commit="c", changed_paths=["calc.py"]),
        StepStarted(step=2),
        turn(2, ""),
        ToolStarted(step=2, call_id="c2", name="bash", arguments={"command": "grep -rn 'a + b' ."}),
        ToolFinished(step=2, call_id="c2", name="bash", output=grep, seconds=0.1),
        StepStarted(step=3),
        turn(3, ""),
        ToolStarted(step=3, call_id="c3", name="bash", arguments={"command": "python -m pytest -q"}),
        ToolFinished(
            step=3,
            call_id="c3",
            name="bash",
            output="bash: python: not found\n[exit code: 127]",
            is_error=True,
            data={"exit_code": 127},
            seconds=0.1,
        ),
        Notice(level="warning", message="the model retried after a command failed"),
        StepStarted(step=4),
        turn(4, "Fixed: `add` now adds."),
        Finished(
            "done", "", "Fixed `add`.", DIFF, 4, {"prompt_tokens": 9000, "completion_tokens": 240}, 12.0
        ),
    ]


def replayed(tmp_path: Path, theme: str = "textual-dark") -> RioApp:
    repo = make_repo(tmp_path / "repo")

    async def factory(_: Settings) -> ScriptedModel:
        return ScriptedModel([], name="qwen3.5")

    return RioApp(
        Settings(approval="ask"),
        repo,
        model_factory=factory,
        session_id="20260101-120000-abcdef",
        history=finished_task(repo),
        clock=lambda: 0.0,
        theme=theme,
        prompt_history=PromptHistory(None),
    )


async def settle(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.session.ready and not app.session.busy)
    await pilot.pause(0.2)


def test_snapshot_finished_task_dark_80x24(tmp_path: Path, snap_compare: Any) -> None:
    assert snap_compare(replayed(tmp_path), terminal_size=(80, 24), run_before=settle)


def test_snapshot_finished_task_light_120x40(tmp_path: Path, snap_compare: Any) -> None:
    assert snap_compare(replayed(tmp_path, "textual-light"), terminal_size=(120, 40), run_before=settle)


def test_snapshot_slash_completion(tmp_path: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("slash")
        await pilot.pause(0.1)

    assert snap_compare(replayed(tmp_path), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_approval_modal_with_diff(tmp_path: Path, snap_compare: Any) -> None:
    repo = make_repo(tmp_path / "repo")
    model = ScriptedModel([edit_turn()], name="qwen3.5")

    async def factory(_: Settings) -> ScriptedModel:
        return model

    app = RioApp(
        Settings(approval="ask"),
        repo,
        model_factory=factory,
        clock=lambda: 0.0,
        prompt_history=PromptHistory(None),
    )

    async def run_before(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.session.ready)
        await type_and_send(pilot, app, "fix add")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
