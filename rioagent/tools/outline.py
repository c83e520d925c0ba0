"""outline: the classes, functions and methods of a file, or of every supported file in a folder, read from
tree-sitter syntax trees (tree-sitter-language-pack, imported on first use: it is big, only this needs it).

One row per symbol, `line  kind name(params)`, nested symbols indented under their parent. The language
tables live in outline_languages.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rioagent.tools.base import ToolContext, ToolError
from rioagent.tools.ignore import list_files
from rioagent.tools.outline_languages import (
    EXTENSIONS,
    FUNCTION_VALUES,
    KEYWORD_LABELS,
    NAME_TYPES,
    NEEDS_BODY,
    PARAMETER_TYPES,
    SYMBOLS,
)

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FILES = 200  # a folder outline reads at most this many files
MAX_ROWS = 500
MAX_CHARS = 24_000
PARAMS_CHARS = 60
_NOT_FUNCTIONS = {
    "class", "abstract class", "interface", "enum", "type", "namespace", "struct", "trait", "impl",
    "mod", "record", "@interface", "module", "object", "protocol", "extension", "actor",
}  # fmt: skip
_queries: dict[str, Any] = {}
_AFTER_OPEN = re.compile(r"\(\s+")
_BEFORE_CLOSE = re.compile(r",?\s+\)")


def outline(ctx: ToolContext, path: str) -> str:
    """Symbols of one file, or of every supported file under a folder (.gitignore honoured)."""
    target = ctx.resolve(path)
    if target.is_dir():
        return _folder(ctx, target)
    if not target.exists():
        raise ToolError(f"{ctx.display(target)} does not exist; give a file or folder inside the workspace")
    name = ctx.display(target)
    language = EXTENSIONS.get(target.suffix.lower())
    if language is None:
        raise ToolError(
            f"outline cannot read {name}: unsupported file type. Supported extensions: {supported()}. "
            "Use view or search for other files."
        )
    rows = _symbols(language, _read(ctx, target))
    if not rows:
        return f"{name}: no classes or functions found ({language})"
    return "\n".join(_capped(rows, f"view {name} or outline a smaller file"))


def supported() -> str:
    return ", ".join(sorted(EXTENSIONS))


def _folder(ctx: ToolContext, folder: Path) -> str:
    try:
        files = [rel for rel in list_files(folder) if Path(rel).suffix.lower() in EXTENSIONS]
    except OSError as exc:
        raise ToolError(f"cannot list the files under {ctx.display(folder)}: {exc}") from exc
    if not files:
        return (
            f"No files under {ctx.display(folder)} that outline can read (.gitignore'd files skipped). "
            f"Supported extensions: {supported()}."
        )
    out: list[str] = []
    empty = skipped = done = 0
    for rel in files[:MAX_FILES]:
        file = folder / rel
        try:
            rows = _symbols(EXTENSIONS[file.suffix.lower()], _read(ctx, file))
        except ToolError:
            skipped += 1
            continue
        done += 1
        if not rows:
            empty += 1
            continue
        out.append(ctx.display(file))
        out.extend(rows)
        if len(out) >= MAX_ROWS or sum(len(r) + 1 for r in out) > MAX_CHARS:
            break
    out = _capped(out, "outline a subfolder or a single file")
    notes = [f"{done} file(s) outlined"]
    if empty:
        notes.append(f"{empty} without classes or functions")
    if skipped:
        notes.append(f"{skipped} skipped (binary, unreadable or over {MAX_FILE_BYTES // 2**20} MB)")
    if done + skipped < len(files):
        notes.append(f"{len(files) - done - skipped} more file(s) not read; outline a subfolder to see them")
    return "\n".join([*out, f"[{'; '.join(notes)}]"])


def _capped(rows: list[str], hint: str) -> list[str]:
    kept: list[str] = []
    chars = 0
    for row in rows:
        if len(kept) >= MAX_ROWS or chars + len(row) > MAX_CHARS:
            return [*kept, f"[{len(rows) - len(kept)} more rows not shown; {hint}]"]
        kept.append(row)
        chars += len(row) + 1
    return kept


def _read(ctx: ToolContext, file: Path) -> bytes:
    name = ctx.display(file)
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ToolError(
                f"{name} is {size} bytes, too large to outline (limit {MAX_FILE_BYTES // 2**20} MB); "
                "use search to find its definitions (e.g. pattern '^\\s*(class|def|func|fn) ')"
            )
        raw = file.read_bytes()
    except OSError as exc:
        raise ToolError(f"{name} cannot be read: {exc.strerror or exc}") from exc
    if b"\x00" in raw[:8192]:
        raise ToolError(f"{name} is a binary file; outline reads source code only")
    return raw


# ---------------------------------------------------------------- tree-sitter


def _symbols(language: str, source: bytes) -> list[str]:
    """`line  kind name(params)` rows, indented two spaces per level of nesting, in source order."""
    from tree_sitter_language_pack import get_parser

    tree = get_parser(language).parse(source)  # type: ignore[arg-type]
    nodes = sorted(_captures(language, tree.root_node), key=lambda n: (n.start_byte, -n.end_byte))
    rows: list[str] = []
    open_ends: list[int] = []  # end bytes of the symbols enclosing the current one
    seen: set[tuple[int, int, str]] = set()
    for node in nodes:
        key = (node.start_byte, node.end_byte, node.type)
        if key in seen or not _counts(node):
            continue
        seen.add(key)
        while open_ends and open_ends[-1] <= node.start_byte:
            open_ends.pop()
        label, name, line = _describe(language, node)
        sep = "" if node.type == "init_declaration" else " "  # Swift's `init(x: Int)` has no name
        rows.append(f"{line:>5}  {'  ' * len(open_ends)}{label}{sep}{name}".rstrip())
        open_ends.append(node.end_byte)
    return rows


def _captures(language: str, root: Any) -> list[Any]:
    from tree_sitter_language_pack import get_language

    if language not in _queries:
        lang = get_language(language)  # type: ignore[arg-type]
        kinds = [k for k in SYMBOLS[language] if lang.id_for_node_kind(k, True)]
        source = "[" + " ".join(f"({k})" for k in kinds) + "] @symbol"
        try:
            from tree_sitter import Query

            _queries[language] = Query(lang, source)
        except ImportError:  # tree-sitter < 0.25
            _queries[language] = lang.query(source)
    query = _queries[language]
    try:
        from tree_sitter import QueryCursor

        found = QueryCursor(query).captures(root)
    except ImportError:
        found = query.captures(root)
    if isinstance(found, dict):
        return [node for nodes in found.values() for node in nodes]
    return [node for node, _ in found]


def _counts(node: Any) -> bool:
    if node.type in NEEDS_BODY:
        return node.child_by_field_name("body") is not None
    if node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        return value is not None and value.type in FUNCTION_VALUES
    return True


def _text(node: Any) -> str:
    """The node's source on one line: `(\n    self,\n    x,\n)` becomes `(self, x)`."""
    text = " ".join(node.text.decode("utf-8", errors="replace").split())
    return _BEFORE_CLOSE.sub(")", _AFTER_OPEN.sub("(", text))


def _describe(language: str, node: Any) -> tuple[str, str, int]:
    """(label, name with parameters, 1-based line of the name)."""
    label = SYMBOLS[language][node.type]
    if language in ("kotlin", "swift"):
        keyword = next((c.type for c in node.children if not c.is_named and c.type in KEYWORD_LABELS), None)
        label = keyword or label
    if language == "python" and any(c.type == "async" for c in node.children):
        label = "async def"
    name_node = None if node.type == "init_declaration" else _name_node(node)
    name = _text(name_node) if name_node is not None else ""
    field = node.child_by_field_name
    if node.type == "method_declaration" and language == "go" and field("receiver") is not None:
        name = f"{_text(field('receiver'))} {name}"
    elif node.type == "type_spec" and field("type") is not None:
        kind = field("type").type.removesuffix("_type")
        name += f" {kind}" if kind in ("struct", "interface") else ""
    elif node.type == "impl_item" and field("type") is not None:
        trait = field("trait")
        name = f"{_text(trait)} for {_text(field('type'))}" if trait else _text(field("type"))
    elif node.type == "singleton_method" and field("object") is not None:
        name = f"{_text(field('object'))}.{name}"
    if label not in _NOT_FUNCTIONS:
        name += _parameters(node)
    parent = node.parent
    if language == "python" and parent is not None and parent.type == "decorated_definition":
        decorators = [_text(c).split("(")[0] for c in parent.children if c.type == "decorator"]
        label = " ".join([*decorators, label])
    line = (name_node if name_node is not None else node).start_point[0] + 1
    return label, name, line


def _name_node(node: Any) -> Any:
    name = node.child_by_field_name("name")
    if name is not None:
        return name
    declarator = node.child_by_field_name("declarator")  # C and C++: int *f(void) nests the name
    while declarator is not None:
        if declarator.type in NAME_TYPES:
            return declarator
        declarator = declarator.child_by_field_name("declarator")
    return next((c for c in node.named_children if c.type in NAME_TYPES), None)


def _parameters(node: Any) -> str:
    holder = node
    if node.type == "variable_declarator":
        holder = node.child_by_field_name("value")
    params = holder.child_by_field_name("parameters") or holder.child_by_field_name("parameter")
    declarator = holder.child_by_field_name("declarator")
    while params is None and declarator is not None:  # C, C++
        params = declarator.child_by_field_name("parameters")
        declarator = declarator.child_by_field_name("declarator")
    if params is None:
        params = next((c for c in holder.named_children if c.type in PARAMETER_TYPES), None)
    if params is not None:
        text = _text(params)
    elif node.type in ("variable_declarator", "init_declaration", "function_declaration"):
        # Swift lists its parameters as bare children; an arrow function may have none at all
        text = ", ".join(_text(c) for c in holder.named_children if c.type == "parameter")
    else:
        return ""
    if not text.startswith("("):
        text = f"({text})"
    return text if len(text) <= PARAMS_CHARS else text[: PARAMS_CHARS - 2] + "…)"
