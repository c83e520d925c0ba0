"""Streamed answers: Markdown kept as blocks while it grows, drawn one widget per answer, paced so that a
model faster than the screen cannot stall the keyboard, and split only at block boundaries."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from rioagent.events import ContentDelta, StepStarted
from rioagent.tui.markdown_blocks import MarkdownBlocks
from rioagent.tui.widgets import conversation as conversation_module
from rioagent.tui.widgets.assistant_text import AssistantText
from tests.scripted_model import ScriptedModel, reply, xml_call
from tests.test_tui_app import make_app, make_repo, wait_idle


@asynccontextmanager
async def idle_app(tmp_path: Path, size: tuple[int, int]) -> AsyncIterator[tuple[Any, Any]]:
    """The app on a model that says nothing, started and idle: a conversation to stream into."""
    app = make_app(make_repo(tmp_path / "repo"), ScriptedModel([]))
    async with app.run_test(size=size) as pilot:
        await wait_idle(pilot, app)
        yield app, pilot


DOC = """# Plan

First we read `calc.py`, then **fix** the *sign*.
A second line of the same paragraph.

## Steps

1. Read the file
2. Change `-` to `+`

   with a continued item

- a bullet
- another

```python
def add(a, b):

    return a + b
```

> a quote
> over two lines

| name | value |
|------|-------|
| a    | 1     |

---

Done: ~~old~~ new.
"""


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def test_blocks_streamed_in_any_pieces_equal_the_blocks_of_the_whole() -> None:
    whole = MarkdownBlocks(DOC)
    assert whole.source == DOC
    assert len(whole.blocks) == 10  # h1, paragraph, h2, ordered list, bullets, fence, quote, table, hr, p
    assert whole.open.startswith("Done:")  # the last block stays open: more text may still change it
    rng = random.Random(7)
    for _ in range(20):
        grown, at = MarkdownBlocks(), 0
        while at < len(DOC):
            step = rng.choice([1, 2, 3, 7, 40])
            grown.append(DOC[at : at + step])
            at += step
        assert grown.blocks == whole.blocks and grown.source == DOC


def test_an_open_code_block_with_blank_lines_stays_one_block() -> None:
    blocks = MarkdownBlocks("Intro.\n\n```python\nx = 1\n\n\ny = 2\n")
    assert blocks.finished == ["Intro.\n\n"] and blocks.open.startswith("```python")
    blocks.append("```\n\nAfter.\n")
    assert blocks.finished[-1].startswith("```python") and "y = 2" in blocks.finished[-1]
    assert blocks.open == "After.\n"


def text_of(widget: AssistantText, width: int) -> list[str]:
    return [strip.text.rstrip() for strip in widget.lines(width)]


async def test_a_streamed_answer_draws_what_the_whole_answer_draws(tmp_path: Path) -> None:
    async with idle_app(tmp_path, (90, 40)) as (app, pilot):
        whole, streamed = AssistantText(DOC), AssistantText()
        await app.conversation.mount(whole, streamed)
        rng = random.Random(3)
        at = 0
        while at < len(DOC):
            step = rng.choice([1, 5, 30])
            await streamed.write(DOC[at : at + step])
            at += step
            if rng.random() < 0.2:
                await pilot.pause()  # drawn part way, as the flush timer does
        await streamed.finish(DOC)
        await pilot.pause()
        lines = text_of(whole, 80)
        assert text_of(streamed, 80) == lines
        assert lines[0] == "Plan"  # headings on the left, as the rest of the screen
        drawn = "\n".join(lines)
        assert "def add(a, b):" in drawn and "a quote" in drawn
        # One blank line between blocks (Rich alone would space a lone list, quote or table more), and
        # the rule is a line.
        assert "\n\n\n" not in drawn[drawn.index("Plan") : drawn.index("another")]
        assert "\n\n\n" not in drawn[drawn.index("a quote") :] and "─" * 20 in drawn
        assert whole.size.height == len(lines)  # the widget is as tall as what it draws
        assert text_of(whole, 30) != lines and max(len(line) for line in text_of(whole, 30)) <= 30


def code_style(widget: AssistantText) -> str:
    for strip in widget.lines(80):
        for segment in strip:
            if segment.text == "calc.py" and segment.style is not None:
                assert segment.style.color is not None
                return segment.style.color.get_truecolor().hex.upper()
    raise AssertionError("inline code not found")


async def test_inline_code_follows_the_theme(tmp_path: Path) -> None:
    async with idle_app(tmp_path, (90, 30)) as (app, pilot):
        text = AssistantText(DOC)
        await app.conversation.mount(text)
        await pilot.pause()
        dark = code_style(text)
        app.theme = "textual-light"
        await pilot.pause()
        light = code_style(text)
        assert dark != light
        assert light == app.get_css_variables()["text-error"].upper()  # the colour Textual's Markdown uses


async def test_a_model_faster_than_the_screen_is_paced_and_nothing_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(make_repo(tmp_path / "repo"), ScriptedModel([reply(xml_call("finish", summary="ok"))]))
    writes: list[int] = []
    write = AssistantText.write

    async def counted(self: AssistantText, text: str) -> None:
        writes.append(len(text))
        await write(self, text)

    monkeypatch.setattr(AssistantText, "write", counted)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_idle(pilot, app)
        conversation = app.conversation
        await conversation.show(StepStarted(step=1))
        answer = "".join(f"Paragraph {i}: " + "word " * 30 + "\n\n" for i in range(200))  # ~37k chars

        async def produce() -> None:
            for start in range(0, len(answer), 20):
                await conversation.show(ContentDelta(text=answer[start : start + 20]))

        producer = asyncio.create_task(produce())
        await asyncio.sleep(0.01)
        # The producer is held back once the backlog is full, not left to queue the whole answer.
        assert not producer.done()
        assert conversation._queued.backlog <= conversation_module.BACKLOG_CHARS + 20
        await asyncio.wait_for(producer, timeout=30)
        timed = list(writes)
        await conversation.flush()
        await pilot.pause()
        # Each timed flush drew at most FLUSH_CHARS; the rest came at later frames.
        assert len(timed) > len(answer) // conversation_module.FLUSH_CHARS
        paced = [n for n in timed if n > conversation_module.FLUSH_CHARS]
        assert not paced, paced
        while conversation.earlier:
            await conversation.load_earlier(10_000)
        await pilot.pause()
        shown = "".join(w.source for w in conversation.query(AssistantText))
        assert shown.split() == answer.split()


async def test_a_long_answer_is_split_between_blocks_never_inside_a_code_block(tmp_path: Path) -> None:
    async with idle_app(tmp_path, (100, 30)) as (app, pilot):
        conversation = app.conversation
        await conversation.show(StepStarted(step=1))
        code = "\n\n".join(f"line_{i} = {i}" for i in range(400))  # one block, blank lines inside
        answer = "Before.\n\n```python\n" + code + "\n```\n\n" + "After. " * 800 + "\n\nEnd.\n"
        for start in range(0, len(answer), 37):
            await conversation.show(ContentDelta(text=answer[start : start + 37]))
            if start % 740 == 0:
                await conversation.flush()
        await conversation.flush()
        await pilot.pause()
        pieces = [w.source for w in conversation.query(AssistantText)]
        assert len(pieces) > 1 and "".join(pieces) == answer
        assert all(piece.count("```") % 2 == 0 for piece in pieces)
        assert any(piece.strip().startswith("```python") and "line_399" in piece for piece in pieces)


async def test_text_in_an_answer_can_be_selected_and_copied(tmp_path: Path) -> None:
    from textual.geometry import Offset
    from textual.selection import Selection

    async with idle_app(tmp_path, (90, 30)) as (app, pilot):
        text = AssistantText("First we read `calc.py`, then fix it.\n\nSecond paragraph here.\n")
        await app.conversation.mount(text)
        await pilot.pause()
        app.screen.selections = {text: Selection(Offset(9, 0), Offset(4, 2))}
        await pilot.pause()
        assert app.screen.get_selected_text() == "read `calc.py`, then fix it.\n\nSeco".replace("`", "")
        drawn = text.render_line(0)
        highlight = app.screen.get_component_rich_style("screen--selection")
        chosen = [seg for seg in drawn if seg.style and seg.style.bgcolor == highlight.bgcolor]
        assert "".join(seg.text for seg in chosen).startswith("read calc.py")
        assert not any(seg.style and seg.style.bgcolor == highlight.bgcolor for seg in text.render_line(3))

        # With the mouse, as a person does: press on "we", drag to the end of "read".
        app.screen.clear_selection()
        await pilot.mouse_down(text, offset=(1 + 6, 0))  # 1: the widget's left padding
        await pilot.hover(text, offset=(1 + 13, 0))
        await pilot.mouse_up(text, offset=(1 + 13, 0))
        await pilot.pause()
        assert app.screen.get_selected_text().strip() == "we read"


def test_split_fence_reads_open_and_closed_code_blocks() -> None:
    from rioagent.tui.markdown_blocks import split_fence

    assert split_fence("```python\na\nb\n```\n\n") == ("```python\n", ["a\n", "b\n"], "```\n")
    assert split_fence("````\nx\n```\ny") == ("````\n", ["x\n", "```\n", "y\n"], "````\n")  # still open
    assert split_fence("~~~\nz\n~~~") == ("~~~\n", ["z\n"], "~~~")
    assert split_fence("A paragraph.\n") is None and split_fence("``not a fence``\n") is None


async def test_a_long_code_block_streams_in_pieces_and_reads_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rioagent.tui import markdown_render

    async with idle_app(tmp_path, (100, 30)) as (app, _pilot):
        code = "".join(f"def f{i}(x):\n    return x * {i}  # {i}\n" for i in range(150))
        answer = "Here it is:\n\n```python\n" + code + "```\n\nDone.\n"
        renders: list[int] = []
        render = markdown_render.BlockRenderer._render

        def counted(self: markdown_render.BlockRenderer, source: str, width: int) -> list:
            renders.append(source.count("\n"))
            return render(self, source, width)

        streamed = AssistantText()
        await app.conversation.mount(streamed)
        monkeypatch.setattr(markdown_render.BlockRenderer, "_render", counted)
        for line in answer.splitlines(keepends=True):
            await streamed.write(line)
            streamed.lines(90)  # drawn after every line, as a fast stream's frames would
        # However long the block grew, no frame highlighted more than one piece of it afresh.
        assert max(renders) <= markdown_render.FENCE_CHUNK_LINES + 2 < code.count("\n") / 4
        monkeypatch.setattr(markdown_render.BlockRenderer, "_render", render)
        whole = markdown_render.renderer_for(app)._render(answer.split("\n\n")[1], 90)  # Rich, in one go
        drawn = [s.text for s in streamed.lines(90)]
        start = drawn.index(whole[0].text)
        assert drawn[start : start + len(whole)] == [s.text for s in whole]
        assert drawn[-1].rstrip() == "Done."


async def test_typing_holds_the_stream_back_for_a_moment_not_for_good(tmp_path: Path) -> None:
    import time

    from tests.test_tui_app import wait_for

    async with idle_app(tmp_path, (100, 30)) as (app, pilot):
        conversation = app.conversation
        await conversation.show(StepStarted(step=1))
        typing = True
        conversation.last_input_at = lambda: time.monotonic() if typing else 0.0  # a key every instant
        started = time.monotonic()
        await conversation.show(ContentDelta(text="Hello there."))
        await asyncio.sleep(0.1)  # past the flush interval, within the hold
        assert not conversation.query(AssistantText)  # the frame that shows the key draws no new text
        # Held, but not frozen: it comes once the hold is over, though the typing goes on.
        shown = lambda: [w.source for w in conversation.query(AssistantText)]  # noqa: E731
        await wait_for(pilot, lambda: shown() == ["Hello there."])
        assert time.monotonic() - started >= conversation_module.INPUT_HOLD_S
        typing = False
        await conversation.show(ContentDelta(text=" More."))
        await wait_for(pilot, lambda: shown() == ["Hello there. More."])
