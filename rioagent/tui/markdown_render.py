"""One Markdown block to terminal lines (Rich's Markdown renderer), styled from the app's Textual theme
so answers follow dark and light like the rest of the screen."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, ClassVar

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Heading, HorizontalRule, Markdown
from rich.rule import Rule
from rich.segment import Segment
from rich.style import Style
from rich.theme import Theme
from textual.color import Color
from textual.strip import Strip

from rioagent.tui.markdown_blocks import markdown_parser, split_fence

FENCE_CHUNK_LINES = 16

if TYPE_CHECKING:
    from textual.app import App


class _LeftHeading(Heading):
    LEVEL_ALIGN: ClassVar = dict.fromkeys(("h1", "h2", "h3", "h4", "h5", "h6"), "left")


class _Rule(HorizontalRule):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Rule(style=console.get_style("markdown.hr", default="none"))  # a line, as Textual draws one


class _AnswerMarkdown(Markdown):
    elements: ClassVar = {**Markdown.elements, "heading_open": _LeftHeading, "hr": _Rule}

    def __init__(self, markup: str, code_theme: str):
        # Rich's own __init__ builds a new parser per document (about 1 ms, most of a block's cost); the
        # same attributes, with one shared parser configured as Rich configures its own.
        self.markup = markup
        self.parsed = markdown_parser().parse(markup)
        self.code_theme = self.inline_code_theme = code_theme
        self.justify = None
        self.style = "none"
        self.hyperlinks = True
        self.inline_code_lexer = None


def _solid(value: str, background: Color) -> str:
    """A theme colour (maybe translucent) as the solid colour it shows on the background."""
    return (background + Color.parse(value)).hex6


def rich_theme(variables: dict[str, str], dark: bool) -> Theme:
    """Rich's Markdown styles from a Textual theme's CSS variables."""
    background = Color.parse(variables.get("background", "#000000" if dark else "#ffffff"))

    def colour(name: str, fallback: str) -> str:
        return _solid(variables.get(name, fallback), background)

    accent = colour("text-primary", "#57A5E2")
    code_fg = colour("text-warning" if dark else "text-error", "#FFC473")
    tint = Color.parse(variables.get("warning" if dark else "error", "#FEA62B"))
    code_bg = background.blend(tint, 0.10).hex6
    styles = {
        "markdown.code": Style(color=code_fg, bgcolor=code_bg),
        "markdown.block_quote": Style(color=colour("text-secondary", "#5684A5")),
        "markdown.list": Style(color=accent),
        "markdown.item.bullet": Style(color=accent, bold=True),
        "markdown.item.number": Style(color=accent),
        "markdown.hr": Style(color=colour("secondary", "#004578")),
        "markdown.link": Style(color=accent),
        "markdown.link_url": Style(color=accent, underline=True),
        "markdown.table.border": Style(color=colour("secondary", "#004578")),
        "markdown.table.header": Style(bold=True),
    }
    for level in range(1, 7):
        text_style = variables.get(f"markdown-h{level}-text-style", "bold")
        heading = colour(f"markdown-h{level}-color", accent)
        styles[f"markdown.h{level}"] = Style.parse(f"{text_style} {heading}")
    return Theme(styles)


class BlockRenderer:
    """Renders blocks for one theme; one per app theme (see `for_theme`)."""

    def __init__(self, variables: dict[str, str], dark: bool):
        self.console = Console(
            file=io.StringIO(),  # never written to; its encoding (UTF-8) lets rules draw lines, not dashes
            theme=rich_theme(variables, dark),
            color_system="truecolor",
            force_terminal=True,
            legacy_windows=False,
            width=80,
        )
        self.code_theme = "monokai" if dark else "default"

    def render(self, source: str, width: int, chunks: dict[str, list[Strip]] | None = None) -> list[Strip]:
        """`source` (one block) as lines `width` cells wide. A long code block is highlighted in pieces of
        FENCE_CHUNK_LINES lines, joined without their padding: highlighting costs about half a millisecond
        a line, and re-rendering a whole growing block at every frame made a 500-line block take 240 ms a
        frame. Pieces already done are kept in `chunks` (the caller's, per width and theme)."""
        fence = split_fence(source)
        if fence is None or len(fence[1]) <= FENCE_CHUNK_LINES:
            return self._render(source, width)
        opener, body, closer = fence
        starts = range(0, len(body), FENCE_CHUNK_LINES)
        out: list[Strip] = []
        for n, start in enumerate(starts):
            piece = opener + "".join(body[start : start + FENCE_CHUNK_LINES]) + closer
            strips = chunks.get(piece) if chunks is not None else None
            if strips is None:
                strips = self._render(piece, width)
                if chunks is not None and n < len(starts) - 1:  # the last piece may still grow
                    chunks[piece] = strips
            # Rich pads a code block with one line above and below: kept only at the block's two ends.
            out.extend(strips[1 if n else 0 : len(strips) - 1 if n < len(starts) - 1 else len(strips)])
        return out

    def _render(self, source: str, width: int) -> list[Strip]:
        markdown = _AnswerMarkdown(source, self.code_theme)
        options: ConsoleOptions = self.console.options.update(width=max(1, width), highlight=False)
        lines = self.console.render_lines(markdown, options, pad=False)
        strips = [Strip(Segment.simplify(line)) for line in lines]
        # Rich spaces a lone block as if others surrounded it; the answer puts one blank line between blocks.
        while strips and _blank(strips[0]):
            strips.pop(0)
        while strips and _blank(strips[-1]):
            strips.pop()
        return strips


def _blank(strip: Strip) -> bool:
    """A line with nothing on it (a code block's padding has its background: not blank)."""
    return not strip.text.strip() and not any(segment.style and segment.style.bgcolor for segment in strip)


_renderers: dict[str, BlockRenderer] = {}


def renderer_for(app: App) -> BlockRenderer:  # type: ignore[type-arg]
    """The renderer for the app's current theme (built once per theme name)."""
    renderer = _renderers.get(app.theme)
    if renderer is None:
        renderer = _renderers[app.theme] = BlockRenderer(app.get_css_variables(), app.current_theme.dark)
    return renderer


def warm_up() -> None:
    """Load what the first code block would (Pygments' Python lexer and both themes' styles, ~70 ms):
    run in a thread at startup, so that the first answer with code does not stall the screen."""
    for dark in (True, False):
        BlockRenderer({}, dark).render("```python\nx = 1\n```\n", 40)
