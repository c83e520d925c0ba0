"""Finished conversation widgets as recipes: how to build a fresh copy of one (values, not the widget,
which is freed once unmounted), for the long-session view that unmounts what scrolled far up and brings
it back when scrolled to. Also the lazily imported Markdown-based widgets' factories."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from textual.widget import Widget

from rioagent.events import Event
from rioagent.tui.widgets.notice import NoticeView
from rioagent.tui.widgets.run_result import RunResult
from rioagent.tui.widgets.tool_call import ToolCallView
from rioagent.tui.widgets.user_prompt import UserPrompt

if TYPE_CHECKING:
    from rioagent.tui.widgets.assistant_text import AssistantText
    from rioagent.tui.widgets.thought import Thought


@dataclass
class Trimmed:
    """A widget taken off a live session's view: how to build a fresh copy of it when scrolled back to."""

    step: int
    make: Callable[[], Widget]
    prompt: bool = False  # a user prompt (undo of the step that opened a run takes it too)


Piece = Union[tuple[int, list[Event]], Trimmed]  # noqa: UP007 - a runtime alias


def assistant_text(markdown: str = "", **kwargs: object) -> AssistantText:
    from rioagent.tui.widgets.assistant_text import AssistantText

    return AssistantText(markdown, **kwargs)  # type: ignore[arg-type]


def thought(text: str = "", **kwargs: object) -> Thought:
    from rioagent.tui.widgets.thought import Thought

    return Thought(text, **kwargs)  # type: ignore[arg-type]


def recipe(widget: Widget, current_thought: Thought | None = None) -> Callable[[], Widget] | None:
    """How to build a fresh copy of a finished widget (values, not the widget: it is freed once
    unmounted), or None for one that is still live or of a kind that is not trimmed. The turn's folded
    thought still gets its token count when the turn ends: its copy reads the widget when built."""
    from rioagent.tui.widgets.markdown_note import MarkdownNote

    step = getattr(widget, "step", 0)
    if type(widget).__name__ == "AssistantText":
        text: AssistantText = widget  # type: ignore[assignment]
        if text.streaming:
            return None
        source, continued = text.source, text.continued
        return lambda: assistant_text(source, step=step, continued=continued)
    if type(widget).__name__ == "Thought":
        folded: Thought = widget  # type: ignore[assignment]
        if folded.live:
            return None
        if folded is current_thought:
            return lambda: thought(folded.text, step=step, live=False, tokens=folded.tokens)
        words, tokens = folded.text, folded.tokens
        return lambda: thought(words, step=step, live=False, tokens=tokens)
    if isinstance(widget, ToolCallView):
        return widget.recipe()
    if isinstance(widget, NoticeView):
        message, level = widget.message, widget.level
        return lambda: NoticeView(message, level=level, step=step)
    if isinstance(widget, UserPrompt):
        prompt = widget.prompt_text
        return lambda: UserPrompt(prompt, step=step)
    if isinstance(widget, RunResult):
        finished = widget.event
        return lambda: RunResult(finished, step=step)
    if isinstance(widget, MarkdownNote):
        note, classes = widget.source, " ".join(widget.classes)
        return lambda: MarkdownNote(note, step=step, classes=classes or None)
    return None


def weight(widget: Widget) -> int:
    """Roughly how many nodes a widget adds to each layout (an answer counts its blocks)."""
    weight = getattr(widget, "weight", None)
    return weight if isinstance(weight, int) else 1 + len(widget.children)
