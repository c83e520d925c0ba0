"""Tool-call parsing: Qwen3.5 XML, Hermes JSON, OpenAI-native (whole and streamed), typing by schema."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rioagent.messages import ToolCall
from rioagent.toolcalls import (
    ParsedReply,
    ToolCallAssembler,
    ToolCallParseError,
    coerce_arguments,
    parse_openai_tool_calls,
    parse_tool_calls,
    render_tool_call,
)

SCHEMAS: dict[str, dict] = {
    "bash": {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "timeout": {"type": "integer"},
            "background": {"type": "boolean"},
        },
        "required": ["command"],
    },
    "write_file": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
    "search": {
        "type": "object",
        "properties": {
            "pattern": {"type": "string"},
            "globs": {"type": "array", "items": {"type": "string"}},
            "options": {"type": "object"},
            "ratio": {"type": "number"},
            "limit": {"type": ["integer", "null"]},
        },
    },
}

CALL_ID = re.compile(r"call_[0-9a-f]{8}")
MODEST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def xml(name: str, **params: str) -> str:
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params.items())
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


def only_call(content: str) -> ToolCall:
    reply = parse_tool_calls(content, SCHEMAS)
    assert len(reply.calls) == 1, reply
    return reply.calls[0]


# -- Qwen3.5 XML ------------------------------------------------------------------------------------------


def test_xml_call_typed_by_schema_with_prose_around() -> None:
    content = "I'll list the files.\n\n" + xml("bash", command="ls -la", timeout="30") + "\n\nThen read."
    reply = parse_tool_calls(content, SCHEMAS)
    assert reply.text == "I'll list the files.\n\nThen read."
    [call] = reply.calls
    assert (call.name, call.arguments) == ("bash", {"command": "ls -la", "timeout": 30})
    assert CALL_ID.fullmatch(call.id)


def test_several_calls_in_order_with_distinct_ids() -> None:
    content = xml("bash", command="pwd") + "\n" + xml("write_file", path="a.txt", content="hi")
    calls = parse_tool_calls(content, SCHEMAS).calls
    assert [c.name for c in calls] == ["bash", "write_file"]
    assert calls[1].arguments == {"path": "a.txt", "content": "hi"}
    assert calls[0].id != calls[1].id


def test_two_functions_inside_one_tool_call_block() -> None:
    content = (
        "<tool_call>\n<function=bash>\n<parameter=command>\nls\n</parameter>\n</function>\n"
        "<function=bash>\n<parameter=command>\npwd\n</parameter>\n</function>\n</tool_call>"
    )
    assert [c.arguments["command"] for c in parse_tool_calls(content, SCHEMAS).calls] == ["ls", "pwd"]


def test_value_keeps_indentation_and_inner_blank_lines() -> None:
    code = "    def f():\n\n        return 1\n"
    call = only_call(xml("write_file", path="f.py", content=code))
    # One newline each side belongs to the template; the value's own trailing newline stays.
    assert call.arguments["content"] == code


def test_only_one_newline_stripped_each_side() -> None:
    content = "<function=bash>\n<parameter=command>\n\n  echo hi  \n\n</parameter>\n</function>"
    assert only_call(content).arguments["command"] == "\n  echo hi  \n"


def test_inline_value_and_stray_whitespace() -> None:
    content = (
        "  <tool_call>  <function= bash >   <parameter=command>ls</parameter>\n\n </function> </tool_call> "
    )
    reply = parse_tool_calls(content, SCHEMAS)
    assert reply.text == ""
    assert reply.calls[0].arguments == {"command": "ls"}


def test_empty_string_value() -> None:
    assert only_call(xml("write_file", path="empty.txt", content="")).arguments["content"] == ""


def test_value_with_angle_brackets_and_closing_tag_lookalike() -> None:
    code = 'if a < b and c > d:\n    s = "</parameter>" + "<parameter=x>"\nprint("</function>")'
    call = only_call(xml("write_file", path="x.py", content=code))
    assert call.arguments["content"] == code


def test_value_holding_a_whole_tool_call_example_runs_to_the_real_end() -> None:
    # A test file that itself contains the wire format: the first "</parameter>\n</function>" is
    # a lookalike; only the last one is followed by </tool_call>.
    example = 'EXAMPLE = """\n<function=bash>\n<parameter=command>\nls\n</parameter>\n</function>\n"""'
    content = xml("write_file", path="t.py", content=example) + "\nDone."
    reply = parse_tool_calls(content, SCHEMAS)
    assert reply.calls[0].arguments == {"path": "t.py", "content": example}
    assert reply.text == "Done."


def test_missing_tool_call_close_at_end_of_stream() -> None:
    content = "<tool_call>\n<function=bash>\n<parameter=command>\nmake test\n</parameter>\n</function>\n"
    assert only_call(content).arguments == {"command": "make test"}


def test_missing_function_close() -> None:
    content = "<tool_call>\n<function=bash>\n<parameter=command>\nls\n</parameter>\n</tool_call>\nafter"
    reply = parse_tool_calls(content, SCHEMAS)
    assert reply.calls[0].arguments == {"command": "ls"}
    assert reply.text == "after"


def test_missing_parameter_closes() -> None:
    content = "<tool_call>\n<function=bash>\n<parameter=command>\nls\n<parameter=timeout>\n5\n</function>"
    assert only_call(content).arguments == {"command": "ls", "timeout": 5}


def test_missing_last_parameter_close_only() -> None:
    content = (
        "<tool_call>\n<function=bash>\n<parameter=command>\nls\n</parameter>\n"
        "<parameter=timeout>\n7\n</function>\n</tool_call>"
    )
    assert only_call(content).arguments == {"command": "ls", "timeout": 7}


def test_stream_cut_inside_a_value() -> None:
    assert only_call("<tool_call>\n<function=bash>\n<parameter=command>\necho hi").arguments == {
        "command": "echo hi"
    }


def test_function_without_tool_call_wrapper() -> None:
    content = "Running:\n<function=bash>\n<parameter=command>\nls\n</parameter>\n</function>\n</tool_call>"
    reply = parse_tool_calls(content, SCHEMAS)
    assert reply.text == "Running:"
    assert reply.calls[0].arguments == {"command": "ls"}


def test_junk_between_function_and_tool_call_close_is_dropped() -> None:
    content = (
        "<tool_call>\n<function=bash>\n<parameter=command>\nls\n</parameter>\n</function>\noops\n</tool_call>"
    )
    assert only_call(content).arguments == {"command": "ls"}
    # ...and a well-formed reading never swallows the next block to avoid that junk.
    reply = parse_tool_calls(content + "\n" + xml("bash", command="pwd"), SCHEMAS)
    assert [c.arguments["command"] for c in reply.calls] == ["ls", "pwd"]


def test_value_ending_in_a_parameter_close_tag_is_kept() -> None:
    # Only a </parameter> followed by the next tag ends a value, so an XML file may end with one.
    assert only_call(xml("write_file", path="t.xml", content="<a>\n</parameter>")).arguments == {
        "path": "t.xml",
        "content": "<a>\n</parameter>",
    }


def test_stray_parameter_close_where_a_parameter_could_start_is_skipped() -> None:
    content = "<function=bash>\n</parameter>\n<parameter=command>\nls\n</parameter>\n</function>"
    assert only_call(content).arguments == {"command": "ls"}


def test_json_arguments_inside_function_tag() -> None:
    content = '<tool_call>\n<function=bash>{"command": "ls", "timeout": "9"}</function>\n</tool_call>'
    assert only_call(content).arguments == {"command": "ls", "timeout": 9}


def test_no_tool_call_returns_the_stripped_text() -> None:
    assert parse_tool_calls("  All done: the tests pass.\n", SCHEMAS) == ParsedReply(
        "All done: the tests pass.", []
    )
    assert parse_tool_calls("", SCHEMAS) == ParsedReply("", [])


def test_parameter_given_twice_is_an_error() -> None:
    content = xml("bash", command="ls").replace(
        "</function>", "<parameter=command>\npwd\n</parameter>\n</function>"
    )
    with pytest.raises(ToolCallParseError, match="'command' of bash is given twice"):
        parse_tool_calls(content, SCHEMAS)


def test_unknown_tool_names_the_available_tools() -> None:
    with pytest.raises(
        ToolCallParseError, match="unknown tool 'rm'; available tools: bash, write_file, search"
    ):
        parse_tool_calls(xml("rm", path="/"), SCHEMAS)


def test_empty_tool_call_block_alone_is_an_error_but_ignored_beside_a_call() -> None:
    for content in ("<tool_call></tool_call>", "<tool_call>\n\n</tool_call>", "text\n<tool_call>\n"):
        with pytest.raises(ToolCallParseError, match="empty") as info:
            parse_tool_calls(content, SCHEMAS)
        assert "<function=NAME>" in str(info.value)  # the message shows the right format
    reply = parse_tool_calls("<tool_call></tool_call>\n" + xml("bash", command="ls"), SCHEMAS)
    assert [c.name for c in reply.calls] == ["bash"]


def test_text_inside_a_function_is_reported_with_the_format() -> None:
    content = "<tool_call>\n<function=bash>\ncommand: ls\n</function>\n</tool_call>"
    with pytest.raises(ToolCallParseError, match="unexpected text 'command: ls") as info:
        parse_tool_calls(content, SCHEMAS)
    assert "<parameter=ARG>" in str(info.value)


def test_malformed_tags_are_reported() -> None:
    with pytest.raises(ToolCallParseError, match="malformed tag"):
        parse_tool_calls("<tool_call>\n<function=bash\n<parameter=command>\nls\n</parameter>", SCHEMAS)
    with pytest.raises(ToolCallParseError, match="names no tool"):
        parse_tool_calls("<tool_call><function=></function></tool_call>", SCHEMAS)
    with pytest.raises(ToolCallParseError, match="must hold <function=NAME> or a JSON object"):
        parse_tool_calls("<tool_call>\nbash ls\n</tool_call>", SCHEMAS)


# -- Hermes JSON ------------------------------------------------------------------------------------------


def test_hermes_json_with_object_and_string_arguments() -> None:
    as_object = '<tool_call>\n{"name": "bash", "arguments": {"command": "ls", "timeout": 3}}\n</tool_call>'
    encoded = json.dumps(json.dumps({"command": "ls", "timeout": "3"}))
    as_string = f'<tool_call>{{"name": "bash", "arguments": {encoded}}}</tool_call>'
    for content in (as_object, as_string):
        assert only_call(content).arguments == {"command": "ls", "timeout": 3}


def test_hermes_json_trailing_junk_fences_and_lists() -> None:
    junk = 'Go.\n<tool_call>\n{"name": "bash", "arguments": {"command": "ls"}}}\n</tool_call>\nDone.'
    reply = parse_tool_calls(junk, SCHEMAS)
    assert (reply.text, reply.calls[0].arguments) == ("Go.\n\nDone.", {"command": "ls"})
    fenced = '<tool_call>\n```json\n{"name": "bash", "parameters": {"command": "pwd"}}\n```\n</tool_call>'
    assert only_call(fenced).arguments == {"command": "pwd"}
    listed = '<tool_call>[{"name": "bash", "arguments": {"command": "a"}}, {"name": "bash"}]</tool_call>'
    assert [c.arguments for c in parse_tool_calls(listed, SCHEMAS).calls] == [{"command": "a"}, {}]
    unclosed = '<tool_call>\n{"name": "bash", "arguments": {"command": "ls"}}}\n'
    reply = parse_tool_calls(unclosed, SCHEMAS)
    assert (reply.text, reply.calls[0].arguments) == ("", {"command": "ls"})  # the junk brace is not prose


def test_hermes_json_errors() -> None:
    with pytest.raises(ToolCallParseError, match="JSON in <tool_call> is not valid"):
        parse_tool_calls('<tool_call>{"name": "bash", "arguments": {</tool_call>', SCHEMAS)
    with pytest.raises(ToolCallParseError, match=re.escape('must be {"name": TOOL')):
        parse_tool_calls('<tool_call>{"tool": "bash"}</tool_call>', SCHEMAS)
    with pytest.raises(ToolCallParseError, match="arguments of bash must be a JSON object"):
        parse_tool_calls('<tool_call>{"name": "bash", "arguments": [1]}</tool_call>', SCHEMAS)
    with pytest.raises(ToolCallParseError, match="arguments of bash are not valid JSON"):
        parse_tool_calls('<tool_call>{"name": "bash", "arguments": "{command"}</tool_call>', SCHEMAS)
    with pytest.raises(ToolCallParseError, match="nested too deeply"):
        parse_tool_calls("<tool_call>" + "[" * 100_000 + "</tool_call>", SCHEMAS)


# -- typing by schema -------------------------------------------------------------------------------------

TYPED = {
    "type": "object",
    "properties": {
        "i": {"type": "integer"},
        "n": {"type": "number"},
        "b": {"type": "boolean"},
        "a": {"type": "array", "items": {"type": "integer"}},
        "o": {"type": "object", "properties": {"k": {"type": "boolean"}}},
        "s": {"type": "string"},
        "maybe": {"type": ["integer", "null"]},
        "opt": {"type": "string", "nullable": True},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "level": {"enum": [1, 2, 3]},
    },
}


@pytest.mark.parametrize(
    ("key", "raw", "typed"),
    [
        ("i", " 42\n", 42),
        ("i", "-7", -7),
        ("i", "3.0", 3),
        ("i", 5.0, 5),
        ("n", "2.5", 2.5),
        ("n", "10", 10),
        ("n", 4, 4),
        ("b", "TRUE", True),
        ("b", "False", False),
        ("b", True, True),
        ("a", "[1, 2]", [1, 2]),
        ("a", ["3", 4], [3, 4]),
        ("o", '{"k": "true", "x": 1}', {"k": True, "x": 1}),
        ("s", "  42  ", "  42  "),
        ("s", 42, "42"),
        ("s", False, "false"),
        ("maybe", "null", None),
        ("maybe", "12", 12),
        ("opt", "null", None),
        ("opt", "text", "text"),
        ("either", "8", 8),
        ("either", "eight", "eight"),
        ("mode", "fast", "fast"),
        ("level", "2", 2),
        ("unknown", "kept as is", "kept as is"),
    ],
)
def test_coerce_each_type(key: str, raw: object, typed: object) -> None:
    out = coerce_arguments("t", {key: raw}, TYPED)
    assert out == {key: typed}
    assert type(out[key]) is type(typed)


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("i", "forty", "t: parameter 'i' must be an integer; got 'forty'"),
        ("i", "2.5", "must be an integer"),
        ("i", True, "must be an integer"),
        ("n", "nan", "must be a number"),
        ("n", "1e999", "must be a number"),
        ("b", "yes", "parameter 'b' must be true or false; got 'yes'"),
        ("a", "[1, 2", "parameter 'a' must be a JSON array"),
        ("a", '[1, "x"]', r"a JSON array \(item 1: expected an integer\)"),
        ("o", "[1]", "parameter 'o' must be a JSON object"),
        ("o", '{"k": "maybe"}', r"key 'k': expected true or false"),
        ("s", ["x"], "parameter 's' must be a string"),
        ("maybe", "many", "must be an integer or null"),
        ("either", [1], "must be an integer or a string"),
        ("mode", "medium", 'must be one of "fast", "slow"'),
        ("level", "9", "must be one of 1, 2, 3"),
    ],
)
def test_coerce_errors_name_the_parameter_and_type(key: str, raw: object, message: str) -> None:
    with pytest.raises(ToolCallParseError, match=message):
        coerce_arguments("t", {key: raw}, TYPED)


def test_parse_error_from_xml_value_type() -> None:
    with pytest.raises(ToolCallParseError, match="bash: parameter 'timeout' must be an integer; got 'soon'"):
        parse_tool_calls(xml("bash", command="ls", timeout="soon"), SCHEMAS)


# -- rendering --------------------------------------------------------------------------------------------


def test_render_tool_call_form() -> None:
    call = ToolCall("search", {"pattern": "a<b", "globs": ["*.py"], "options": {"x": True}, "ratio": 0.5})
    assert render_tool_call(call) == (
        "<tool_call>\n<function=search>\n"
        "<parameter=pattern>\na<b\n</parameter>\n"
        '<parameter=globs>\n["*.py"]\n</parameter>\n'
        '<parameter=options>\n{"x": true}\n</parameter>\n'
        "<parameter=ratio>\n0.5\n</parameter>\n"
        "</function>\n</tool_call>"
    )
    rendered = render_tool_call(ToolCall("bash", {"command": "ls", "background": False, "timeout": None}))
    assert "<parameter=background>\nfalse\n</parameter>" in rendered
    assert "<parameter=timeout>\nnull\n</parameter>" in rendered
    assert render_tool_call(ToolCall("bash", {})) == "<tool_call>\n<function=bash>\n</function>\n</tool_call>"


# -- OpenAI-native ----------------------------------------------------------------------------------------


def test_openai_tool_calls_keep_ids_and_type_arguments() -> None:
    raw = [
        {
            "id": "call_abc",
            "type": "function",
            "function": {"name": "bash", "arguments": '{"command": "ls"}'},
        },
        {
            "type": "function",
            "function": {"name": "bash", "arguments": '{"command": "x", "timeout": "4"} junk'},
        },
        {"id": "c3", "type": "function", "function": {"name": "search", "arguments": ""}},
        {"id": "c4", "type": "function", "function": {"name": "search", "arguments": {"limit": "null"}}},
    ]
    calls = parse_openai_tool_calls(raw, SCHEMAS)
    assert calls[0] == ToolCall("bash", {"command": "ls"}, "call_abc")
    assert calls[1].arguments == {"command": "x", "timeout": 4} and CALL_ID.fullmatch(calls[1].id)
    assert calls[2] == ToolCall("search", {}, "c3")
    assert calls[3].arguments == {"limit": None}


def test_openai_tool_calls_accept_openai_tool_specs_as_schemas() -> None:
    tools = [{"type": "function", "function": {"name": n, "parameters": s}} for n, s in SCHEMAS.items()]
    raw = [{"id": "a", "function": {"name": "bash", "arguments": '{"command": "ls", "timeout": "1"}'}}]
    assert parse_openai_tool_calls(raw, tools) == [ToolCall("bash", {"command": "ls", "timeout": 1}, "a")]


def test_openai_tool_call_errors() -> None:
    with pytest.raises(ToolCallParseError, match="unknown tool 'nope'; available tools: bash"):
        parse_openai_tool_calls([{"function": {"name": "nope", "arguments": "{}"}}], SCHEMAS)
    with pytest.raises(ToolCallParseError, match="not valid JSON"):
        parse_openai_tool_calls([{"function": {"name": "bash", "arguments": '{"command": '}}], SCHEMAS)
    with pytest.raises(ToolCallParseError, match="#1 has no function name"):
        parse_openai_tool_calls([{"function": {"arguments": "{}"}}], SCHEMAS)
    with pytest.raises(ToolCallParseError, match="#1 is not an object"):
        parse_openai_tool_calls(["bash"], SCHEMAS)  # type: ignore[list-item]


def stream_deltas(index: int, call_id: str, name: str, arguments: str, cuts: list[int]) -> list[dict]:
    """The deltas a server sends for one call: id and name first, then argument fragments."""
    bounds = sorted({0, len(arguments), *(c % (len(arguments) + 1) for c in cuts)})
    pieces = [arguments[a:b] for a, b in itertools.pairwise(bounds)]
    first = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    return [first] + [{"index": index, "function": {"arguments": p}} for p in pieces]


def test_assembler_interleaved_calls_split_everywhere() -> None:
    args_a = json.dumps({"command": "echo 'ü {x}'", "timeout": 5})
    args_b = json.dumps({"path": "a.py", "content": "print(1)\n"})
    for cut in range(len(args_a) + 1):
        a = stream_deltas(0, "call_a", "bash", args_a, [cut])
        b = stream_deltas(1, "call_b", "write_file", args_b, [cut, cut + 3])
        assembler = ToolCallAssembler()
        # Interleave the two calls' deltas, one or two per chunk, as servers batch them.
        merged = [d for pair in zip(a, b, strict=False) for d in pair] + a[len(b) :] + b[len(a) :]
        for i in range(0, len(merged), 2):
            assembler.feed(merged[i : i + 2])
        assert assembler.calls(SCHEMAS) == [
            ToolCall("bash", {"command": "echo 'ü {x}'", "timeout": 5}, "call_a"),
            ToolCall("write_file", {"path": "a.py", "content": "print(1)\n"}, "call_b"),
        ]


def test_assembler_without_index_and_ids() -> None:
    assembler = ToolCallAssembler()
    assembler.feed([{"function": {"name": "bash", "arguments": '{"comm'}}])
    assembler.feed(
        [{"function": {"name": "bash", "arguments": 'and": "ls"}'}}]
    )  # name repeated: not appended
    assembler.feed([{"id": "second", "function": {"name": "bash", "arguments": '{"command": "pwd"}'}}])
    first, second = assembler.calls(SCHEMAS)
    assert first.arguments == {"command": "ls"} and CALL_ID.fullmatch(first.id)
    assert second == ToolCall("bash", {"command": "pwd"}, "second")
    assert assembler.calls(SCHEMAS)[0].id == first.id  # generated ids are stable
    assert ToolCallAssembler().calls(SCHEMAS) == []


def test_assembler_reports_a_broken_stream() -> None:
    assembler = ToolCallAssembler()
    assembler.feed([{"index": 0, "id": "x", "function": {"name": "bash", "arguments": '{"command": "l'}}])
    with pytest.raises(ToolCallParseError, match="arguments of bash are not valid JSON"):
        assembler.calls(SCHEMAS)


@MODEST
@given(
    arguments=st.dictionaries(st.sampled_from(["command", "timeout", "background"]), st.just(None)),
    command=st.text(),
    timeout=st.integers(),
    background=st.booleans(),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
)
def test_assembler_property(
    arguments: dict, command: str, timeout: int, background: bool, cuts: list[int]
) -> None:
    values = {"command": command, "timeout": timeout, "background": background}
    args = {k: values[k] for k in arguments}
    assembler = ToolCallAssembler()
    for delta in stream_deltas(0, "call_p", "bash", json.dumps(args), cuts):
        assembler.feed([delta])
    assert assembler.calls(SCHEMAS) == [ToolCall("bash", args, "call_p")]


# -- properties of the content parser ---------------------------------------------------------------------

# Lookalikes of the wire format inside values; a value is only ambiguous when a "</parameter>" in it is
# followed by the next tag, which the generator below rules out.
LOOKALIKES = [
    "</parameter>",
    "<parameter=x>",
    "</function>",
    "<tool_call>",
    "</tool_call>",
    "<function=bash>",
]
_AMBIGUOUS = re.compile(r"</parameter>\s*(<parameter=|</function>|</tool_call>|<tool_call>|<function=)")

text_piece = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])),
    st.sampled_from(["\n", "    ", "\t", "<", "</", ">", "a < b", "x = '</parameter>'", "é中🙂", '"', "{"]),
    st.sampled_from(LOOKALIKES),
)
string_value = st.lists(text_piece, max_size=8).map("".join).filter(lambda s: not _AMBIGUOUS.search(s))
code_value = st.lists(
    st.tuples(st.integers(0, 3), st.text(alphabet="abc()=:<>/ '\"", max_size=20)), max_size=6
).map(lambda lines: "\n".join("    " * depth + line for depth, line in lines))
json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
strings = st.one_of(string_value, code_value)

VALUES = {
    "bash": {"command": strings, "timeout": st.integers(), "background": st.booleans()},
    "write_file": {"path": strings, "content": strings},
    "search": {
        "pattern": strings,
        "globs": st.lists(st.text(), max_size=4),
        "options": st.dictionaries(st.text(max_size=6), json_value, max_size=3),
        "ratio": st.floats(allow_nan=False, allow_infinity=False) | st.integers(),
        "limit": st.none() | st.integers(),
    },
}


@st.composite
def calls(draw: st.DrawFn) -> ToolCall:
    name = draw(st.sampled_from(sorted(VALUES)))
    keys = draw(st.lists(st.sampled_from(sorted(VALUES[name])), unique=True))
    return ToolCall(name, {k: draw(VALUES[name][k]) for k in keys})


prose = st.text(alphabet="abc XYZ.,!?\n")


@MODEST
@given(before=prose, batch=st.lists(calls(), min_size=1, max_size=3), after=prose, close_last=st.booleans())
def test_render_then_parse_round_trips(
    before: str, batch: list[ToolCall], after: str, close_last: bool
) -> None:
    rendered = "\n".join(render_tool_call(c) for c in batch)
    if not close_last:  # the stop token cut the final </tool_call>
        rendered = rendered.removesuffix("</tool_call>")
        after = ""
    reply = parse_tool_calls(f"{before}\n{rendered}\n{after}", SCHEMAS)
    assert [(c.name, c.arguments) for c in reply.calls] == [(c.name, c.arguments) for c in batch]
    assert reply.text == "\n\n".join(p.strip() for p in (before, after) if p.strip())


FRAGMENTS = [
    "<tool_call>",
    "</tool_call>",
    "<function=bash>",
    "<function=nope>",
    "<function=",
    "</function>",
    "<parameter=command>",
    "<parameter=timeout>",
    "<parameter=x>",
    "<parameter=",
    "</parameter>",
    "{",
    "}",
    "[",
    "]",
    '"',
    ":",
    ",",
    '"name"',
    '"arguments"',
    '"bash"',
    "null",
    "7",
    "true",
    "\n",
    " ",
    ">",
    "<",
    "```json",
    "text",
]


def _parses_or_explains(content: str) -> None:
    try:
        reply = parse_tool_calls(content, SCHEMAS)
    except ToolCallParseError as exc:
        assert str(exc)
        return
    assert isinstance(reply.text, str)
    assert all(call.name in SCHEMAS and CALL_ID.fullmatch(call.id) for call in reply.calls)


@MODEST
@given(st.text())
def test_arbitrary_text_never_crashes(content: str) -> None:
    _parses_or_explains(content)


@MODEST
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=40).map("".join))
def test_fragment_soup_never_crashes(content: str) -> None:
    _parses_or_explains(content)


@MODEST
@given(batch=st.lists(calls(), min_size=1, max_size=2), cut=st.integers(min_value=0))
def test_truncated_render_never_crashes(batch: list[ToolCall], cut: int) -> None:
    rendered = "\n".join(render_tool_call(c) for c in batch)
    assume(rendered)
    _parses_or_explains(rendered[: cut % len(rendered)])


@MODEST
@given(
    batch=st.lists(calls(), min_size=1, max_size=2),
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from(["drop", "double", *FRAGMENTS])), max_size=4
    ),
)
def test_mangled_render_never_crashes(batch: list[ToolCall], edits: list[tuple[int, str]]) -> None:
    # A model's near-misses: lines of a real call dropped, doubled, or with a stray fragment put in.
    lines = "\n".join(render_tool_call(c) for c in batch).split("\n")
    for where, edit in edits:
        i = where % len(lines)
        if edit == "drop" and len(lines) > 1:
            del lines[i]
        elif edit == "double":
            lines.insert(i, lines[i])
        else:
            lines.insert(i, edit)
    _parses_or_explains("\n".join(lines))
