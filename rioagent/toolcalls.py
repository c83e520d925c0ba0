"""Parse the model's tool calls and type their arguments by each tool's JSON schema.

Three wire forms are accepted: the Qwen3.5 / Qwen3-Coder XML written into the content, Hermes JSON inside
`<tool_call>`, and OpenAI-native `tool_calls` (whole or as streamed deltas). Malformed output never crashes
the parser: it raises ToolCallParseError, whose message is written for the model to read and fix its call.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rioagent.messages import ToolCall

TOOL_OPEN, TOOL_CLOSE = "<tool_call>", "</tool_call>"
FUNC_OPEN, FUNC_CLOSE = "<function=", "</function>"
PARAM_OPEN, PARAM_CLOSE = "<parameter=", "</parameter>"

FORMAT_HINT = (
    "Write each tool call as:\n<tool_call>\n<function=NAME>\n<parameter=ARG>\nVALUE\n</parameter>\n"
    "</function>\n</tool_call>"
)

_MAX_PARAMS = 100  # bounds the parser's recursion (one level per parameter)
_BUDGET = 200  # value-end readings tried per call: bounds backtracking on adversarial text

_START = re.compile(r"<tool_call>|<function=")
# Tags that may follow a parameter value: the next parameter, the end of the call, or the next call.
_AFTER_VALUE = re.compile(r"<parameter=|</function>|</tool_call>|<tool_call>|<function=")
_BLOCK_BOUNDARY = re.compile(r"</tool_call>\s*<tool_call>")
_TAG_REST = re.compile(r"([^<>\n]*)>")  # the NAME> after "<function=" or "<parameter="
_WS = re.compile(r"\s*")
_INT = re.compile(r"[+-]?\d+")
_JSON = json.JSONDecoder()


class ToolCallParseError(ValueError):
    """The model's tool call could not be understood; the message tells the model what to fix."""


class _Fatal(ToolCallParseError):
    """A fault no other reading of the text can explain (a parameter given twice): never backtrack past it."""


@dataclass
class ParsedReply:
    text: str  # the content with the tool-call blocks removed, stripped
    calls: list[ToolCall] = field(default_factory=list)


@dataclass
class _RawCall:
    name: str
    arguments: dict[str, Any]
    id: str = ""


def new_call_id() -> str:
    return f"call_{secrets.token_hex(4)}"


# -- the public entry points -------------------------------------------------------------------------


def parse_tool_calls(content: str, schemas: dict[str, dict[str, Any]]) -> ParsedReply:
    """Split `content` into prose and tool calls (Qwen3.5 XML or Hermes JSON), typed by `schemas`."""
    if not content:
        return ParsedReply("", [])
    raw, text, empty_blocks = _Scanner(content).scan()
    if not raw and empty_blocks:
        raise ToolCallParseError(f"the <tool_call> block is empty. {FORMAT_HINT}")
    return ParsedReply(text, _finish(raw, schemas))


def parse_openai_tool_calls(tool_calls: list[dict[str, Any]], schemas: Any) -> list[ToolCall]:
    """Type OpenAI-native `tool_calls` ({id, type, function: {name, arguments}}) by `schemas`."""
    raw: list[_RawCall] = []
    for i, item in enumerate(tool_calls or []):
        if not isinstance(item, dict):
            raise ToolCallParseError(f"tool call #{i + 1} is not an object: {_preview(item)}")
        fn = item.get("function") if isinstance(item.get("function"), dict) else item
        name = fn.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ToolCallParseError(f"tool call #{i + 1} has no function name")
        call_id = item.get("id") if isinstance(item.get("id"), str) else ""
        raw.append(_RawCall(name.strip(), _json_arguments(fn.get("arguments"), name), call_id))
    return _finish(raw, schemas)


class ToolCallAssembler:
    """Rebuilds OpenAI tool calls from streamed deltas: the first delta of an index carries id and name,
    later ones append fragments of the arguments' JSON."""

    def __init__(self) -> None:
        self._parts: dict[int, dict[str, Any]] = {}
        self._last: int | None = None

    def feed(self, deltas: list[dict[str, Any]]) -> None:
        for delta in deltas or []:
            if not isinstance(delta, dict):
                continue
            index = delta.get("index")
            if not isinstance(index, int) or isinstance(index, bool):
                index = self._index_without_one(delta)
            part = self._parts.setdefault(index, {"id": "", "name": "", "arguments": []})
            self._last = index
            if isinstance(delta.get("id"), str) and delta["id"] and not part["id"]:
                part["id"] = delta["id"]
            fn = delta.get("function") if isinstance(delta.get("function"), dict) else {}
            # Servers send the name once; some repeat it whole in later deltas, so never append names.
            if isinstance(fn.get("name"), str) and fn["name"] and not part["name"]:
                part["name"] = fn["name"]
            if isinstance(fn.get("arguments"), str):
                part["arguments"].append(fn["arguments"])

    def _index_without_one(self, delta: dict[str, Any]) -> int:
        # A server that omits `index` starts a new call with a new id; other deltas continue the last one.
        if self._last is None:
            return 0
        new_id = delta.get("id")
        if isinstance(new_id, str) and new_id and new_id != self._parts[self._last]["id"]:
            return max(self._parts) + 1
        return self._last

    def calls(self, schemas: Any) -> list[ToolCall]:
        items = []
        for index in sorted(self._parts):
            part = self._parts[index]
            part["id"] = part["id"] or new_call_id()  # stable across repeated calls()
            fn = {"name": part["name"], "arguments": "".join(part["arguments"])}
            items.append({"id": part["id"], "type": "function", "function": fn})
        return parse_openai_tool_calls(items, schemas)


def render_tool_call(call: ToolCall) -> str:
    """The Qwen3.5 XML form of `call`, as the chat template writes it back into history."""
    lines = [TOOL_OPEN, f"{FUNC_OPEN}{call.name}>"]
    for key, value in call.arguments.items():
        lines += [f"{PARAM_OPEN}{key}>", _render_value(value), PARAM_CLOSE]
    lines += [FUNC_CLOSE, TOOL_CLOSE]
    return "\n".join(lines)


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


def _finish(raw: list[_RawCall], schemas: Any) -> list[ToolCall]:
    known = _schema_map(schemas)
    calls = []
    for call in raw:
        if call.name not in known:
            available = ", ".join(known) if known else "none"
            raise ToolCallParseError(f"unknown tool {call.name!r}; available tools: {available}")
        arguments = coerce_arguments(call.name, call.arguments, known[call.name])
        calls.append(ToolCall(call.name, arguments, call.id or new_call_id()))
    return calls


def _schema_map(schemas: Any) -> dict[str, dict[str, Any]]:
    # The documented form is {name: parameters schema}; a list of OpenAI tool specs
    # ({"type": "function", "function": {"name", "parameters"}}) is accepted too, as backends hold that.
    if isinstance(schemas, dict):
        return {name: schema if isinstance(schema, dict) else {} for name, schema in schemas.items()}
    known: dict[str, dict[str, Any]] = {}
    for tool in schemas or []:
        fn = tool.get("function", tool) if isinstance(tool, dict) else {}
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            params = fn.get("parameters")
            known[fn["name"]] = params if isinstance(params, dict) else {}
    return known


# -- Qwen3.5 XML and Hermes JSON inside the content ----------------------------------------------------


class _Scanner:
    """One pass over the content, backtracking only inside a call to find where each value ends."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.budget = _BUDGET

    def scan(self) -> tuple[list[_RawCall], str, bool]:
        calls: list[_RawCall] = []
        prose: list[str] = []
        empty = False
        pos = 0
        while (m := _START.search(self.text, pos)) is not None:
            prose.append(self.text[pos : m.start()])
            if m.group() == TOOL_OPEN:
                found, pos = self._block(m.end())
                empty = empty or not found
            else:  # <function=NAME> without the <tool_call> wrapper: accepted
                call, pos = self._function(m.start(), wrapped=False)
                found = [call]
                after = self._ws(pos)
                if self.text.startswith(TOOL_CLOSE, after):
                    pos = after + len(TOOL_CLOSE)
            calls += found
        prose.append(self.text[pos:])
        text = "\n\n".join(p.strip() for p in prose if p.strip())
        return calls, text, empty

    def _ws(self, pos: int) -> int:
        return _WS.match(self.text, pos).end()  # type: ignore[union-attr]

    def _at(self, pos: int, *tags: str) -> bool:
        return self.text.startswith(tags, pos)

    def _block(self, pos: int) -> tuple[list[_RawCall], int]:
        """The inside of a <tool_call> from `pos`; returns the calls and where the block ends."""
        q = self._ws(pos)
        if self._at(q, TOOL_CLOSE):
            return [], q + len(TOOL_CLOSE)
        if q >= self.n or self._at(q, TOOL_OPEN):
            return [], q
        if not self._at(q, FUNC_OPEN):
            return self._json_block(q)
        calls = []
        while self._at(q, FUNC_OPEN):
            call, end = self._function(q, wrapped=True)
            calls.append(call)
            q = self._ws(end)
        if self._at(q, TOOL_CLOSE):
            return calls, q + len(TOOL_CLOSE)
        close, reopen = self.text.find(TOOL_CLOSE, q), self.text.find(TOOL_OPEN, q)
        if close != -1 and (reopen == -1 or close < reopen):
            return calls, close + len(TOOL_CLOSE)  # junk between </function> and </tool_call>: dropped
        return calls, q  # no </tool_call> (the stop token cut it): what follows is prose

    def _function(self, pos: int, wrapped: bool) -> tuple[_RawCall, int]:
        m = _TAG_REST.match(self.text, pos + len(FUNC_OPEN))
        if m is None:
            raise ToolCallParseError(f"malformed tag {_snippet(self.text, pos)}. {FORMAT_HINT}")
        name = _tag_name(m.group(1))
        if not name:
            raise ToolCallParseError(f"<function=> names no tool. {FORMAT_HINT}")
        # Inside <tool_call>, first demand a well-formed call ending cleanly (</function> then </tool_call>):
        # that lets a value holding a "</parameter>\n</function>" lookalike run on to the real end.
        # Failing that, read it leniently: the first plausible end of each value wins.
        attempts = [True, False] if wrapped else [False]
        for strict in attempts:
            self.budget = _BUDGET
            try:
                args, end = self._params(m.end(), name, {}, strict)
                return _RawCall(name, args), end
            except _Fatal:
                raise
            except ToolCallParseError:
                if not strict:
                    raise
        raise AssertionError("unreachable")

    def _params(self, pos: int, fname: str, args: dict[str, Any], strict: bool) -> tuple[dict[str, Any], int]:
        """Parameters from `pos` to the end of the call; recursion is per parameter, for backtracking."""
        text = self.text
        q = self._ws(pos)
        while self._at(q, PARAM_CLOSE):  # a stray close tag where a parameter could start: harmless
            q = self._ws(q + len(PARAM_CLOSE))
        if self._at(q, FUNC_CLOSE):
            end = q + len(FUNC_CLOSE)
            if strict:
                self._check_call_end(end)
            return args, end
        if q >= self.n or self._at(q, TOOL_CLOSE, TOOL_OPEN, FUNC_OPEN):
            if strict:
                raise ToolCallParseError(f"<function={fname}> is not closed with </function>")
            return args, q  # </function> left out
        if not args and text.startswith("{", q):  # <function=NAME>{"json": "args"}</function>
            try:
                value, end = _JSON.raw_decode(text, q)
            except (ValueError, RecursionError):
                value = None
            if isinstance(value, dict):
                return self._params(end, fname, value, strict)
        if not self._at(q, PARAM_OPEN):
            raise ToolCallParseError(
                f"unexpected text {_snippet(text, q)} inside <function={fname}>. {FORMAT_HINT}"
            )
        m = _TAG_REST.match(text, q + len(PARAM_OPEN))
        pname = _tag_name(m.group(1)) if m else ""
        if m is None or not pname:
            raise ToolCallParseError(f"malformed tag {_snippet(text, q)} in {fname}; write <parameter=ARG>")
        if pname in args:
            raise _Fatal(f"parameter {pname!r} of {fname} is given twice; give each parameter once")
        if len(args) >= _MAX_PARAMS:
            raise _Fatal(f"{fname} has more than {_MAX_PARAMS} parameters; check the call's format")
        start = m.end()
        first_error: ToolCallParseError | None = None
        for value_end, resume in self._value_ends(start, strict):
            if self.budget <= 0:
                break
            self.budget -= 1
            value = _strip_one_newline(text[start:value_end])
            try:
                return self._params(resume, fname, {**args, pname: value}, strict)
            except _Fatal:
                raise
            except ToolCallParseError as exc:
                first_error = first_error or exc
        raise first_error or ToolCallParseError(
            f"could not tell where parameter {pname!r} of {fname} ends; close it with </parameter>"
        )

    def _value_ends(self, start: int, strict: bool) -> Iterator[tuple[int, int]]:
        """Where a value starting at `start` may end, most natural first, as (value end, resume at).
        `strict` readings are well-formed only and never run into the next <tool_call> block."""
        text = self.text
        boundary = _BLOCK_BOUNDARY.search(text, start) if strict else None
        limit = boundary.start() if boundary else self.n
        # A </parameter> followed by the next tag (or the end); lookalikes inside code rarely are.
        close = text.find(PARAM_CLOSE, start, limit)
        while close != -1:
            after = self._ws(close + len(PARAM_CLOSE))
            if after >= self.n or _AFTER_VALUE.match(text, after):
                yield close, close + len(PARAM_CLOSE)
            close = text.find(PARAM_CLOSE, close + 1, limit)
        if strict:
            return
        # </parameter> left out: the value ends at the next tag that starts a line.
        for m in _AFTER_VALUE.finditer(text, start):
            if m.start() == start or text[m.start() - 1] == "\n":
                yield m.start(), m.start()
        yield self.n, self.n  # the stream was cut inside the value

    def _check_call_end(self, end: int) -> None:
        after = self._ws(end)
        if after < self.n and not self._at(after, TOOL_CLOSE, TOOL_OPEN, FUNC_OPEN):
            raise ToolCallParseError(
                f"unexpected text {_snippet(self.text, after)} after </function>; end the call with "
                f"</tool_call>. {FORMAT_HINT}"
            )

    def _json_block(self, q: int) -> tuple[list[_RawCall], int]:
        """Hermes form: <tool_call>{"name": ..., "arguments": {...}}</tool_call>."""
        text = self.text
        close = text.find(TOOL_CLOSE, q)
        limit = close if close != -1 else self.n
        brace = min((i for i in (text.find("{", q, limit), text.find("[", q, limit)) if i != -1), default=-1)
        # Only a code fence (```json) may stand before the JSON.
        if brace == -1 or text[q:brace].strip().strip("`").strip().lower() not in ("", "json"):
            raise ToolCallParseError(
                f"a <tool_call> must hold <function=NAME> or a JSON object; got {_snippet(text, q)}. "
                f"{FORMAT_HINT}"
            )
        try:
            value, end = _JSON.raw_decode(text, brace)
        except ValueError as exc:
            detail = getattr(exc, "msg", str(exc))
            raise ToolCallParseError(
                f"the JSON in <tool_call> is not valid ({detail}); write "
                f'{{"name": TOOL, "arguments": {{...}}}} or use the XML form. {FORMAT_HINT}'
            ) from None
        except RecursionError:
            raise ToolCallParseError("the JSON in <tool_call> is nested too deeply") from None
        calls = [_json_call(item) for item in (value if isinstance(value, list) else [value])]
        # Trailing junk (a stray brace, a closing fence) is dropped up to </tool_call>.
        close, reopen = text.find(TOOL_CLOSE, end), text.find(TOOL_OPEN, end)
        if close != -1 and (reopen == -1 or close < reopen):
            return calls, close + len(TOOL_CLOSE)
        junk = re.match(r"[\s}\]`]*", text[end:])
        return calls, end + (junk.end() if junk else 0)


def _json_call(obj: Any) -> _RawCall:
    if isinstance(obj, dict) and isinstance(obj.get("function"), dict):
        obj = obj["function"]  # an OpenAI-shaped call written into the content
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"].strip():
        raise ToolCallParseError(
            f'a JSON tool call must be {{"name": TOOL, "arguments": {{...}}}}; got {_preview(obj)}'
        )
    name = obj["name"].strip()
    raw_args = obj.get("arguments", obj.get("parameters"))
    call_id = obj.get("id") if isinstance(obj.get("id"), str) else ""
    return _RawCall(name, _json_arguments(raw_args, name), call_id)


def _json_arguments(raw: Any, name: Any) -> dict[str, Any]:
    """Arguments given as a dict or as a JSON string (trailing junk after the object is ignored)."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        source = raw.strip()
        if not source:
            return {}
        try:
            raw, _ = _JSON.raw_decode(source)
        except ValueError as exc:
            detail = getattr(exc, "msg", str(exc))
            raise ToolCallParseError(
                f"the arguments of {name} are not valid JSON ({detail}): {_preview(source)}; "
                'give a JSON object such as {"arg": "value"}'
            ) from None
        except RecursionError:
            raise ToolCallParseError(f"the arguments of {name} are nested too deeply") from None
    if not isinstance(raw, dict):
        raise ToolCallParseError(f"the arguments of {name} must be a JSON object; got {_preview(raw)}")
    return raw


def _tag_name(raw: str) -> str:
    return raw.strip().strip("\"'").strip()


def _strip_one_newline(value: str) -> str:
    # The template puts the value on lines of its own; only that one newline each side is not the value's.
    newline = "\n"
    if value.startswith("\n"):
        value = value[1:]
    elif value.startswith("\r\n"):
        value, newline = value[2:], "\r\n"
    if value.endswith(newline):
        value = value[: -len(newline)]
    elif value.endswith("\n"):
        value = value[:-1]
    return value


def _snippet(text: str, pos: int, width: int = 40) -> str:
    piece = text[pos : pos + width]
    return repr(piece + "…" if len(text) > pos + width else piece)


def _preview(value: Any, width: int = 60) -> str:
    shown = repr(value)
    return shown if len(shown) <= width else shown[: width - 1] + "…"


# -- typing values by JSON schema ---------------------------------------------------------------------


class _Mismatch(Exception):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


_EXPECTED = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a JSON array",
    "object": "a JSON object",
    "null": "null",
}


def coerce_arguments(name: str, args: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Type each argument by its property schema. Unknown parameters pass through untouched: the tool
    registry reports them (with missing ones) in one message."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    props = props if isinstance(props, dict) else {}
    typed: dict[str, Any] = {}
    for key, value in args.items():
        sub = props.get(key)
        if not isinstance(sub, dict):
            typed[key] = value
            continue
        try:
            typed[key] = _coerce(value, sub)
        except _Mismatch as exc:
            raise ToolCallParseError(
                f"{name}: parameter {key!r} must be {exc.expected}; got {_preview(value)}"
            ) from None
    return typed


def _coerce(value: Any, schema: dict[str, Any]) -> Any:
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            subs = [s for s in options if isinstance(s, dict)]
            if _is_null(value) and any(_allows_null(s) for s in subs):
                return None
            return _first_fit(value, [(lambda v, s=s: _coerce(v, s)) for s in subs])
    types = _types(schema)
    if not types:
        return _check_enum(value, schema)
    if "null" in types and _is_null(value):
        return None  # before "string": a literal null for a nullable string means None
    return _first_fit(value, [(lambda v, t=t: _check_enum(_as_type(v, t, schema), schema)) for t in types])


def _first_fit(value: Any, attempts: list[Any]) -> Any:
    expected: list[str] = []
    for attempt in attempts:
        try:
            return attempt(value)
        except _Mismatch as exc:
            if exc.expected not in expected:
                expected.append(exc.expected)
    raise _Mismatch(" or ".join(expected) or "a value the schema allows")


def _types(schema: dict[str, Any]) -> list[str]:
    raw = schema.get("type")
    if isinstance(raw, str):
        types = [raw]
    elif isinstance(raw, list):
        types = [t for t in raw if isinstance(t, str)]
    elif isinstance(schema.get("properties"), dict):
        types = ["object"]
    elif isinstance(schema.get("items"), dict):
        types = ["array"]
    else:
        types = []
    if types and schema.get("nullable") is True and "null" not in types:
        types.append("null")
    return types


def _allows_null(schema: dict[str, Any]) -> bool:
    return "null" in _types(schema)


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "null")


def _check_enum(value: Any, schema: dict[str, Any]) -> Any:
    allowed = schema.get("enum")
    if not isinstance(allowed, list) or value in allowed:
        return value
    if isinstance(value, str):  # an untyped enum of numbers, given as raw text
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            parsed = None
        if parsed is not None and parsed in allowed:
            return parsed
    raise _Mismatch("one of " + ", ".join(json.dumps(a, ensure_ascii=False) for a in allowed))


def _as_type(value: Any, kind: str, schema: dict[str, Any]) -> Any:
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return json.dumps(value)
        raise _Mismatch(_EXPECTED[kind])
    if kind == "integer":
        return _as_integer(value)
    if kind == "number":
        return _as_number(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _Mismatch(_EXPECTED[kind])
    if kind in ("array", "object"):
        return _as_container(value, kind, schema)
    if kind == "null":
        if _is_null(value):
            return None
        raise _Mismatch(_EXPECTED[kind])
    return value  # a type this parser does not know ("any"): leave the value to the tool


def _as_integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if _INT.fullmatch(text):
                return int(text)
            number = float(text)
        except ValueError:
            raise _Mismatch(_EXPECTED["integer"]) from None
        if math.isfinite(number) and number.is_integer():
            return int(number)
    raise _Mismatch(_EXPECTED["integer"])


def _as_number(value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Mismatch(_EXPECTED["number"])
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text) if _INT.fullmatch(text) else float(text)
        except ValueError:
            raise _Mismatch(_EXPECTED["number"]) from None
        if isinstance(number, int) or math.isfinite(number):
            return number
    raise _Mismatch(_EXPECTED["number"])


def _as_container(value: Any, kind: str, schema: dict[str, Any]) -> Any:
    expected = _EXPECTED[kind]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise _Mismatch(expected) from None
    if kind == "array":
        if not isinstance(value, list):
            raise _Mismatch(expected)
        items = schema.get("items")
        if not isinstance(items, dict):
            return value
        typed = []
        for i, item in enumerate(value):
            try:
                typed.append(_coerce(item, items))
            except _Mismatch as exc:
                raise _Mismatch(f"{expected} (item {i}: expected {exc.expected})") from None
        return typed
    if not isinstance(value, dict):
        raise _Mismatch(expected)
    props = schema.get("properties")
    if not isinstance(props, dict):
        return value
    out = {}
    for key, item in value.items():
        try:
            out[key] = _coerce(item, props[key]) if isinstance(props.get(key), dict) else item
        except _Mismatch as exc:
            raise _Mismatch(f"{expected} (key {key!r}: expected {exc.expected})") from None
    return out
