"""Session logs: append-only JSONL under XDG_STATE_HOME, crash-tolerant reading, id prefixes, listing."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from rioagent.events import (
    AssistantMessage,
    ContentDelta,
    Finished,
    ReasoningDelta,
    SessionStarted,
    StepStarted,
    ToolFinished,
)
from rioagent.session import (
    SessionError,
    SessionLog,
    list_sessions,
    load_events,
    new_session_id,
    resolve_id,
    session_path,
    sessions_dir,
)


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def write_session(sid: str, task: str, status: str | None = "done", ts: float = 1.0e9) -> None:
    with SessionLog(sid) as log:
        log.append(
            SessionStarted(session_id=sid, task=task, workspace="/w", model="m", backend="endpoint", ts=ts)
        )
        log.append(StepStarted(step=1, ts=ts + 1))
        if status:
            log.append(
                Finished(
                    status=status,
                    reason="",
                    summary="ok",
                    patch="",
                    steps=1,
                    usage={},
                    seconds=1.0,
                    session_id=sid,
                    ts=ts + 2,
                )
            )


def test_ids_are_short_sortable_and_distinct() -> None:
    first, second = new_session_id(1_700_000_000), new_session_id(1_700_000_001)
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", first)
    assert first < second
    assert len({new_session_id(1_700_000_000) for _ in range(50)}) == 50


def test_round_trip_under_xdg_state_home_skips_deltas(state_home: Path) -> None:
    sid = "20261124-091530-ab12cd"
    events = [
        SessionStarted(session_id=sid, task="fix it", workspace="/w", model="qwen", backend="endpoint"),
        StepStarted(step=1),
        ReasoningDelta(text="thinking"),
        ContentDelta(text="typing"),
        AssistantMessage(
            step=1, content="done", reasoning="hm", tool_calls=[{"name": "bash"}], usage={"prompt_tokens": 3}
        ),
        ToolFinished(step=1, call_id="c1", name="bash", output="ok\n", changed_paths=["a.py"]),
        Finished(status="done", reason="", summary="s", patch="diff", steps=1, usage={}, seconds=0.5),
    ]
    log = SessionLog(sid)
    for event in events:
        log.append(event)
        # Flushed per event: a reader sees it before close.
    assert len(session_path(sid).read_text().splitlines()) == 5
    log.close()
    log.close()  # idempotent
    assert session_path(sid) == state_home / "rioagent" / "sessions" / f"{sid}.jsonl"
    loaded = load_events(sid)
    kept = [e for e in events if not isinstance(e, ReasoningDelta | ContentDelta)]
    assert [e.to_dict() for e in loaded] == [e.to_dict() for e in kept]


def test_reopening_appends(state_home: Path) -> None:
    sid = "20261124-091530-aaaaaa"
    write_session(sid, "first")
    with SessionLog(sid) as log:
        log.append(
            SessionStarted(
                session_id=sid, task="second", workspace="/w", model="m", backend="b", resumed=True
            )
        )
    events = load_events(sid)
    assert [type(e).__name__ for e in events][-1] == "SessionStarted"
    assert events[0].task == "first" and events[-1].resumed is True
    info = list_sessions()[0]
    assert (info.runs, info.task, info.status) == (2, "first", "incomplete")


def test_truncated_last_line_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    sid = "20261124-091530-bbbbbb"
    write_session(sid, "t", status=None)
    with session_path(sid).open("a") as fh:
        fh.write('{"type": "step_started", "st')  # the crash happened mid-write
    with caplog.at_level(logging.WARNING):
        events = load_events(sid)
    assert [e.type for e in events] == ["session_started", "step_started"]
    assert "truncated last line 3" in caplog.text


def test_damage_in_the_middle_is_an_error_naming_the_line() -> None:
    sid = "20261124-091530-cccccc"
    write_session(sid, "t")
    lines = session_path(sid).read_text().splitlines()
    lines[1] = "garbage"
    session_path(sid).write_text("\n".join(lines) + "\n")
    with pytest.raises(SessionError, match=r":2: not a JSON event"):
        load_events(sid)


def test_unknown_event_types_are_skipped() -> None:
    sid = "20261124-091530-dddddd"
    write_session(sid, "t")
    with session_path(sid).open("a") as fh:
        fh.write(json.dumps({"type": "from_the_future", "x": 1}) + "\n")
    assert [e.type for e in load_events(sid)] == ["session_started", "step_started", "result"]


def test_prefix_resolution() -> None:
    for sid in ("20261124-091530-ab12cd", "20261124-091530-ab99ff", "20261125-101010-000000"):
        write_session(sid, sid)
    assert resolve_id("20261125") == "20261125-101010-000000"
    assert resolve_id("20261124-091530-ab1") == "20261124-091530-ab12cd"
    assert resolve_id("20261124-091530-ab12cd") == "20261124-091530-ab12cd"
    both = r"ambiguous: it starts 2 sessions \(20261124-091530-ab99ff, 20261124-091530-ab12cd\)"
    with pytest.raises(SessionError, match=both):
        resolve_id("20261124-091530-ab")
    with pytest.raises(SessionError, match="close matches: 20261124-091530-ab12cd"):
        resolve_id("20261124-091530-ab12ce")
    with pytest.raises(SessionError, match="no session 'zzz'"):
        resolve_id("zzz")


def test_list_is_newest_first_with_status_and_task() -> None:
    assert list_sessions() == []
    write_session("20261124-091530-aaaaaa", "oldest task", status="done", ts=1.0e9)
    write_session("20261126-000000-cccccc", "newest task", status=None, ts=3.0e9)
    write_session("20261125-000000-bbbbbb", "middle task", status="limit", ts=2.0e9)
    infos = list_sessions()
    assert [i.id for i in infos] == [
        "20261126-000000-cccccc",
        "20261125-000000-bbbbbb",
        "20261124-091530-aaaaaa",
    ]
    assert [i.status for i in infos] == ["incomplete", "limit", "done"]
    assert [i.task for i in infos] == ["newest task", "middle task", "oldest task"]
    assert infos[1].started == 2.0e9 and infos[1].workspace == "/w"
    assert all(i.path.parent == sessions_dir() for i in infos)
