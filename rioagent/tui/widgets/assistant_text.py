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
        self._streaming = False
        self._drawn_for: tuple[int, str] | None = None  # (width, theme) the cached lines are for
        self._finished_lines: list[list[Strip]] = []  # per finished block, for _drawn_for
        self._fence_chunks: dict[str, list[Strip]] = {}  # pieces of the open code block, drawn
        self._lines: list[Strip] | None = None
        self._drawn: dict[int, tuple[Strip | None, tuple[object, ...], Strip]] = {}  # y -> line as drawn

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
        self.blocks.append(text)
        self._lines = None
        self.refresh(layout=True)

    def split_off(self) -> str:
        """Take the open block out of this answer (it continues in another widget); returns its text."""
        rest, self.blocks.open = self.blocks.open, ""
        self._lines = None
        self.refresh(layout=True)
        return rest

    async def finish(self, final: str | None = None) -> None:
        """Stop streaming; when the finished text differs from what streamed (calls cut out, a retry),
        show the finished text instead."""
        self._streaming = False
        if final is not None and final.strip() != self.source.strip():
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
        self._fence_chunks, self._drawn = {}, {}

    # ---- drawing ---------------------------------------------------------------------------------------

    def draw(self) -> None:
        """Render what was written now, not at the next frame's layout. A widget mounted since the last
        frame has no size yet: it will be as wide as its container's content, less its own padding."""
        width = self.size.width
        if not width and self.parent is not None:
            width = self.parent.scrollable_content_region.width - self.styles.gutter.width  # type: ignore[attr-defined]
        if width > 0:
            self.lines(width)

    def lines(self, width: int) -> list[Strip]:
        """The answer's lines at this width: blocks one blank line apart."""
        key = (width, self.app.theme)
        if key != self._drawn_for:
            self._drawn_for, self._finished_lines, self._lines = key, [], None
            self._fence_chunks = {}
        if self._lines is None:
            renderer = renderer_for(self.app)
            finished = self.blocks.finished
            while len(self._finished_lines) < len(finished):
                block = finished[len(self._finished_lines)]
                self._finished_lines.append(renderer.render(block, width, self._fence_chunks))
                self._fence_chunks = {}  # they were the open block's, now finished
            parts = list(self._finished_lines)
            if self.blocks.open.strip():
                parts.append(renderer.render(self.blocks.open, width, self._fence_chunks))
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
        source = lines[y] if y < len(lines) else None
        style = self.rich_style
        selection = self.text_selection
        span = selection.get_span(y) if selection is not None else None
        # Every frame of a stream redraws the visible lines; most are unchanged, and finishing one (the
        # mouse offsets above all) costs more than Rich drew it in.
        cached = self._drawn.get(y)
        if cached is not None and cached[0] is source and cached[1] == (width, style, span):
            return cached[2]
        strip = (source or Strip.blank(width)).crop_extend(0, width, style).apply_style(style)
        if span is not None:
            start, end = span
            end = strip.cell_length if end == -1 else min(end, strip.cell_length)
            if start < end:
                before, chosen, after = strip.divide([start, end, strip.cell_length])
                highlight = self.screen.get_component_rich_style("screen--selection")
                on_top = Strip(Segment.apply_style(chosen, post_style=highlight), chosen.cell_length)
                strip = Strip.join([before, on_top, after])
        strip = strip.apply_offsets(0, y)  # where the mouse is, in the answer's text: selecting works
        self._drawn[y] = (source, (width, style, span), strip)
        return strip

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text, as drawn (copy from an answer as from anywhere on the screen)."""
        text = "\n".join(strip.text.rstrip() for strip in self.lines(self.size.width))
        return selection.extract(text), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()
