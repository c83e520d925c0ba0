"""The model's answer as Markdown that grows while it streams.

One widget draws the whole answer, line by line: each finished Markdown block is rendered once (per
width and theme) and kept, and an append renders only the block still open. A widget per block, as
Textual's Markdown builds, costs a mount, a CSS pass and a layout node per paragraph, and that made a
fast stream stall the keyboard (evals/bench_tui.py)."""

from __future__ import annotations

from rich.segment import Segment
from textual.geometry import Size
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget

from rioagent.tui.css import load_css
from rioagent.tui.markdown_blocks import MarkdownBlocks
from rioagent.tui.markdown_render import renderer_for


class AssistantText(Widget):
    DEFAULT_CSS = load_css(__file__)

    def __init__(self, markdown: str = "", *, step: int = 0, continued: bool = False):
        super().__init__(classes="-continued" if continued else None)
        self.step = step
        self.continued = continued  # the rest of a long answer, after an earlier widget
        self.blocks = MarkdownBlocks(markdown)
        self.streamed = ""  # everything written while streaming
        self._streaming = False
        self._drawn_for: tuple[int, str] | None = None  # (width, theme) the cached lines are for
        self._finished_lines: list[list[Strip]] = []  # per finished block, for _drawn_for
        self._lines: list[Strip] | None = None

    @property
    def source(self) -> str:
        return self.blocks.source

    @property
    def weight(self) -> int:
        """What the conversation's live budget counts: one per block, as if each were a widget."""
        return 1 + len(self.blocks.finished)

    @property
    def streaming(self) -> bool:
        return self._streaming

    async def write(self, text: str) -> None:
        if not text:
            return
        self._streaming = True
        self.streamed += text
        self.blocks.append(text)
        self._lines = None
        self.refresh(layout=True)

    def split_off(self) -> str:
        """Take the open block out of this answer (it continues in another widget); returns its text."""
        rest, self.blocks.open = self.blocks.open, ""
        self.streamed = self.blocks.source
        self._lines = None
        self.refresh(layout=True)
        return rest

    async def finish(self, final: str | None = None) -> None:
        """Stop streaming; when the finished text differs from what streamed (calls cut out, a retry),
        show the finished text instead."""
        self._streaming = False
        if final is not None and final.strip() != self.streamed.strip():
            self.streamed = final
            await self.update(final)

    async def update(self, markdown: str) -> None:
        self.blocks = MarkdownBlocks(markdown)
        self._finished_lines = []
        self._lines = None
        self.refresh(layout=True)

    def on_unmount(self) -> None:
        # Trimmed off a long session's view: its lines are freed now, by reference counting, instead of
        # in a full garbage collection later (the widget itself sits in reference cycles).
        self._drawn_for, self._finished_lines, self._lines = None, [], None

    # ---- drawing ---------------------------------------------------------------------------------------

    def lines(self, width: int) -> list[Strip]:
        """The answer's lines at this width: blocks one blank line apart."""
        key = (width, self.app.theme)
        if key != self._drawn_for:
            self._drawn_for, self._finished_lines, self._lines = key, [], None
        if self._lines is None:
            renderer = renderer_for(self.app)
            finished = self.blocks.finished
            while len(self._finished_lines) < len(finished):
                self._finished_lines.append(renderer.render(finished[len(self._finished_lines)], width))
            parts = list(self._finished_lines)
            if self.blocks.open.strip():
                parts.append(renderer.render(self.blocks.open, width))
            lines: list[Strip] = []
            for part in parts:
                if part and lines:
                    lines.append(Strip.blank(0))
                lines.extend(part)
            self._lines = lines
        return self._lines

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        lines = self.lines(width)
        style = self.rich_style
        strip = lines[y] if y < len(lines) else Strip.blank(width)
        strip = strip.crop_extend(0, width, style).apply_style(style)
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(y)) is not None:
            start, end = span
            end = strip.cell_length if end == -1 else min(end, strip.cell_length)
            if start < end:
                before, chosen, after = strip.divide([start, end, strip.cell_length])
                highlight = self.screen.get_component_rich_style("screen--selection")
                on_top = Strip(Segment.apply_style(chosen, post_style=highlight), chosen.cell_length)
                strip = Strip.join([before, on_top, after])
        return strip.apply_offsets(0, y)  # where the mouse is, in the answer's text: selecting works

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text, as drawn (copy from an answer as from anywhere on the screen)."""
        text = "\n".join(strip.text.rstrip() for strip in self.lines(self.size.width))
        return selection.extract(text), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()
