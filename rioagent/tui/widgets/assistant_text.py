"""The model's answer as Markdown that grows while it streams: pieces are appended to the document
(Textual's MarkdownStream batches them when they come faster than the screen), never re-rendered."""

from __future__ import annotations

from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownStream

from rioagent.tui.css import load_css


class AssistantText(Markdown):
    DEFAULT_CSS = load_css(__file__)

    def __init__(self, markdown: str = "", *, step: int = 0, continued: bool = False):
        super().__init__(markdown, classes="-continued" if continued else None)
        self.step = step
        self.continued = continued  # the rest of a long answer, after an earlier widget
        self._stream: MarkdownStream | None = None
        self.streamed = ""  # everything written so far (the widget's source lags while batching)

    async def write(self, text: str) -> None:
        if not text:
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self)
        self.streamed += text
        await self._stream.write(text)

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    async def finish(self, final: str | None = None) -> None:
        """Stop streaming; when the finished text differs from what streamed (calls cut out, a retry),
        show the finished text: one render per message, not per token."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if final is not None and final.strip() != self.streamed.strip():
            self.streamed = final
            await self.update(final)
