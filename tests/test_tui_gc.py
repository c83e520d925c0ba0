"""The TUI's garbage-collection policy: only young collections happen on their own while the app runs;
the full collection a run leaves for later waits until nothing runs and no one has typed for a while."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rioagent.tui import gcpolicy
from tests.scripted_model import ScriptedModel, reply, xml_call
from tests.test_tui_app import make_app, make_repo, type_and_send, wait_for, wait_idle


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


async def test_the_full_collection_waits_until_no_one_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gcpolicy, "QUIET_S", 0.4)
    collected: list[float] = []
    monkeypatch.setattr(gcpolicy, "collect_full", lambda: collected.append(time.monotonic()))
    model = ScriptedModel([reply(xml_call("finish", summary="ok"))])
    app = make_app(make_repo(tmp_path / "repo"), model, approval="auto")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_idle(pilot, app)
        assert gcpolicy.held()
        await type_and_send(pilot, app, "go")
        await wait_idle(pilot, app)
        for _ in range(8):  # typing the next prompt right after the run: no full collection under it
            await pilot.press("x")
            await pilot.pause(0.1)
        assert not collected
        await wait_for(pilot, lambda: collected, timeout=5)
        assert collected[0] - app.prompt_bar.input.last_key_at >= 0.4
        assert len(collected) == 1  # once per run, not every quiet second
        await pilot.pause(1.0)
        assert len(collected) == 1
    assert not gcpolicy.held()  # the app gone, Python's own schedule is back
