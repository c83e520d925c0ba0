"""The TUI's pure logic: slash commands, @ mentions, prompt history, the tool-call stream filter, the status
line and how tool calls are summarised. No Textual app here (those are in test_tui_app.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rioagent.events import AssistantMessage, Compacted, Finished, StepStarted, Undone
from rioagent.tui import commands, mentions
from rioagent.tui.history import PromptHistory
from rioagent.tui.status import StatusInfo, duration, human
from rioagent.tui.streamfilter import ToolCallFilter
from rioagent.tui.tool_format import body_kind, parse_hits, summary


def test_commands_parse_and_complete() -> None:
    inv = commands.parse("/approval auto-edit")
    assert inv is not None and inv.command is not None and inv.name == "approval" and inv.arg == "auto-edit"
    unknown = commands.parse("/frobnicate now")
    assert unknown is not None and unknown.command is None and unknown.name == "frobnicate"
    # Paths and doubled slashes are messages to the model, not commands.
    assert commands.parse("/usr/bin/env is broken") is None
    assert commands.parse("//not a command") is None
    assert commands.parse("fix the bug") is None
    assert [c.name for c in commands.complete("/")] == [c.name for c in commands.COMMANDS]
    assert [c.name for c in commands.complete("/u")] == ["undo"]
    assert [c.name for c in commands.complete("/c")] == ["compact", "clear"]
    assert commands.complete("/undo now") == [] and commands.complete("undo") == []
    every = {"help", "model", "think", "undo", "diff", "compact", "clear", "sessions", "resume", "approval"}
    assert every | {"quit"} == {c.name for c in commands.COMMANDS}
    assert all(f"/{name}" in commands.help_text() for name in every)


def test_mentions_rank_attach_and_split(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "parser.py").write_text("def parse():\n    pass\n")
    (tmp_path / "src" / "printer.py").write_text("print(1)\n")
    (tmp_path / "README.md").write_text("hello\n")
    (tmp_path / "ignored.log").write_text("x\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    files = mentions.list_files(tmp_path)
    assert "src/parser.py" in files and "README.md" in files and "ignored.log" not in files

    assert mentions.rank("parser", files)[0] == "src/parser.py"
    assert mentions.rank("sprs", files)[0] == "src/parser.py"  # letters in order, scattered
    assert mentions.rank("zzz", files) == []

    found = mentions.mention_at("look at @src/pa please", 15)
    assert found is not None and found.query == "src/pa" and found.start == 8
    assert mentions.mention_at("no mention here", 5) is None

    text, paths = mentions.attach("explain @src/parser.py and mail me@example.com", tmp_path)
    assert paths == ["src/parser.py"]
    assert '<file path="src/parser.py">\ndef parse():' in text
    typed, attached = mentions.split_attached(text)
    assert typed == "explain @src/parser.py and mail me@example.com" and attached == ["src/parser.py"]
    # Outside the workspace is never attached.
    outside = tmp_path.parent / "secret.txt"
    outside.write_text("secret")
    assert mentions.attach("@../secret.txt", tmp_path) == ("@../secret.txt", [])


def test_prompt_history_browses_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history = PromptHistory(path)
    for text in ("first", "second\nline two", "second\nline two", "third"):
        history.add(text)
    assert history.entries == ["first", "second\nline two", "third"]  # a repeat is kept once
    assert history.previous("draft") == "third"
    assert history.previous("third") == "second\nline two"
    assert history.previous("x") == "first"
    assert history.previous("x") is None  # at the oldest
    assert history.next() == "second\nline two"
    assert history.next() == "third"
    assert history.next() == "draft"  # past the newest: what was typed before browsing
    assert history.next() is None
    assert PromptHistory(path).entries == ["first", "second\nline two", "third"]


def test_tool_call_filter_hides_calls_split_across_pieces() -> None:
    call = "<tool_call>\n<function=bash>\n<parameter=command>\nls\n</parameter>\n</function>\n</tool_call>"
    text = f"I'll fix it.\n{call}\nok"
    for size in (1, 3, 7, len(text)):
        f = ToolCallFilter()
        shown = "".join(f.feed(text[i : i + size]) for i in range(0, len(text), size))
        assert shown == "I'll fix it.\n\nok", size
    f = ToolCallFilter()
    assert f.feed("a <tool") == "a " and f.feed("bar>") == "<toolbar>"  # held back, then released


def test_status_line_folds_events_and_gives_way_when_narrow() -> None:
    info = StatusInfo(model="qwen", backend="endpoint", context_window=32768, approval="ask")
    info.apply(StepStarted(step=3))
    figures = {"mode": "on", "thinking_tokens": 40, "injections": []}
    info.apply(
        AssistantMessage(3, "", "", [], {"prompt_tokens": 12000, "completion_tokens": 500}, 12000, figures)
    )
    line = info.render(now=0.0, width=200)
    assert "qwen · endpoint" in line and "ctx 12.5k/32.8k 38%" in line
    assert "↑12k ↓500" in line and "step 3" in line and "think on" in line
    narrow = info.render(now=0.0, width=50)
    assert len(narrow) <= 50 and "ctx" in narrow and "think" not in narrow
    info.apply(Compacted(summary="s", tokens_before=12500, tokens_after=2000, messages_removed=4))
    assert info.context_tokens == 2000
    info.apply(Undone(step=3, messages_kept=2))
    assert info.step == 2
    info.apply(Finished("done", "", "", "", 1, {}, 75.0))
    assert "1m15s" in info.render(now=0.0, width=200)
    assert human(950) == "950" and human(12_345) == "12.3k" and human(2_000_000) == "2M"
    assert duration(3725) == "1h02m"


def test_tool_summaries_and_body_kinds() -> None:
    assert summary("bash", {"command": "pytest -x\nmore"}) == "pytest -x…"
    assert summary("view", {"path": "a.py", "start_line": 3, "end_line": 9}) == "a.py:3-9"
    assert summary("git", {"command": "diff", "path": "a.py"}) == "diff a.py"
    grep = "src/a.py:3:def parse():\nsrc/b.py:10:    parse()\n"
    assert parse_hits(grep) == [("src/a.py", 3, "def parse():"), ("src/b.py", 10, "    parse()")]
    assert body_kind("bash", {"command": "grep -rn parse"}, grep, {}) == "hits"
    assert body_kind("bash", {"command": "ls"}, "a\nb\n", {}) == "text"
    assert (
        body_kind("str_replace", {"path": "a"}, "ok", {"diff": "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y"}) == "diff"
    )
    assert body_kind("git", {"command": "diff"}, "diff --git a/x b/x\n", {}) == "diff"


def test_replay_pieces_leave_out_undone_steps() -> None:
    from rioagent.events import SessionStarted, ToolFinished, ToolStarted
    from rioagent.tui.replay import pieces, without_undone

    def run(task: str) -> SessionStarted:
        return SessionStarted(session_id="s", task=task, workspace="/w", model="m", backend="b")

    events = [
        run("first"),
        StepStarted(step=1),
        ToolStarted(step=1, call_id="a", name="bash", arguments={}),
        ToolFinished(step=1, call_id="a", name="bash", output="1"),
        Finished("done", "", "", "", 1, {}, 1.0),
        run("second"),
        StepStarted(step=2),
        ToolStarted(step=2, call_id="b", name="bash", arguments={}),
        Finished("interrupted", "", "", "", 1, {}, 1.0),
        Undone(step=2, messages_kept=4, prompt="second"),
        run("third"),
        StepStarted(step=2),
    ]
    kept = without_undone(events)
    tasks = [e.task for e in kept if isinstance(e, SessionStarted)]
    assert tasks == ["first", "third"]  # the undone step's prompt went with it
    assert not any(isinstance(e, ToolStarted) and e.call_id == "b" for e in kept)
    assert sum(isinstance(e, Finished) for e in kept) == 1 and any(isinstance(e, Undone) for e in kept)
    parts = pieces(kept)
    assert [type(p[1][0]).__name__ for p in parts] == [
        "SessionStarted", "StepStarted", "SessionStarted", "StepStarted"
    ]  # fmt: skip
    assert [start for start, _ in parts] == [0, 0, 1, 1]
    # The undone step's events stay out, its Undone note stays in: the third run starts from step 1.


def test_stream_queue_keeps_order_and_holds_back_answer_beyond_the_limit() -> None:
    from rioagent.tui.stream_queue import StreamQueue

    queue = StreamQueue()
    pieces = [("reasoning", "think "), ("reasoning", "more"), ("content", "abc"), ("content", "defgh")]
    for kind, text in pieces:
        queue.put(kind, text)
    assert queue.backlog == 8
    assert queue.take(5) == [("reasoning", "think more"), ("content", "abcde")]
    assert queue.backlog == 3 and queue
    queue.put("reasoning", "again")  # a new run after the held-back answer: drawn after it
    queue.put("content", "ij")
    assert queue.take(3) == [("content", "fgh"), ("reasoning", "again")]
    assert queue.take(0) == [] and queue.backlog == 2
    assert queue.take() == [("content", "ij")] and not queue and queue.backlog == 0


def test_pace_sizes_and_spaces_batches_by_what_drawing_cost() -> None:
    from rioagent.tui.stream_queue import (
        BATCH_BUDGET_S,
        DRAW_SHARE,
        FLUSH_CHARS,
        FLUSH_S,
        MIN_FLUSH_CHARS,
        Pace,
    )

    pace = Pace()
    pace.after_batch(FLUSH_CHARS, 0.004)  # prose: cheap, full batches at the full rate
    assert pace.chars == FLUSH_CHARS and pace.interval == FLUSH_S
    for _ in range(8):  # code: 3x the budget for a full batch
        cost = 3 * BATCH_BUDGET_S * pace.chars / FLUSH_CHARS
        pace.after_batch(pace.chars, cost)
    assert abs(pace.chars - FLUSH_CHARS / 3) < 20  # converges on what fits the budget
    assert pace.interval == max(FLUSH_S, DRAW_SHARE * cost)
    before = pace.chars
    pace.after_batch(MIN_FLUSH_CHARS - 1, 1.0)  # a scrap at the end of a stream says nothing of the rate
    assert pace.chars == before and pace.interval == DRAW_SHARE * 1.0
    pace.after_batch(FLUSH_CHARS, 10.0)
    assert pace.chars >= MIN_FLUSH_CHARS
