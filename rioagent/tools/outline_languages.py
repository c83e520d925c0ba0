"""What outline knows about each language, as data: file extensions, and the tree-sitter node types that
count as symbols with the word shown for each. Adding a language is adding rows here (names are those of
tree-sitter-language-pack 0.13.0; node types missing from a grammar are skipped, not an error)."""

from __future__ import annotations

EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".java": "java",
    ".c": "c", ".h": "cpp",  # headers are as often C++ as C; the C++ grammar reads C declarations too
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hh": "cpp", ".hpp": "cpp", ".hxx": "cpp",
    ".cs": "csharp", ".rb": "ruby", ".php": "php", ".kt": "kotlin", ".kts": "kotlin",
    ".swift": "swift", ".scala": "scala", ".sc": "scala", ".lua": "lua",
    ".sh": "bash", ".bash": "bash",
}  # fmt: skip

_JS = {
    "class_declaration": "class",
    "function_declaration": "function",
    "generator_function_declaration": "function*",
    "method_definition": "method",
    "variable_declarator": "function",  # only `const f = (…) => …` / `= function (…)`: see FUNCTION_VALUES
}
_TS = {
    **_JS,
    "abstract_class_declaration": "abstract class",
    "interface_declaration": "interface",
    "enum_declaration": "enum",
    "type_alias_declaration": "type",
    "internal_module": "namespace",
    "function_signature": "function",
}
_C = {"function_definition": "function", "struct_specifier": "struct", "enum_specifier": "enum"}

# node type -> label. The name is the node's `name` field unless outline.py has a rule for that node type.
SYMBOLS: dict[str, dict[str, str]] = {
    "python": {"class_definition": "class", "function_definition": "def"},
    "javascript": _JS,
    "typescript": _TS,
    "tsx": _TS,
    "go": {"function_declaration": "func", "method_declaration": "func", "type_spec": "type"},
    "rust": {
        "function_item": "fn", "function_signature_item": "fn", "struct_item": "struct", "enum_item": "enum",
        "trait_item": "trait", "impl_item": "impl", "mod_item": "mod", "macro_definition": "macro",
    },
    "java": {
        "class_declaration": "class", "interface_declaration": "interface", "enum_declaration": "enum",
        "record_declaration": "record", "annotation_type_declaration": "@interface",
        "method_declaration": "method", "constructor_declaration": "constructor",
    },
    "c": _C,
    "cpp": {**_C, "class_specifier": "class", "namespace_definition": "namespace"},
    "csharp": {
        "namespace_declaration": "namespace", "file_scoped_namespace_declaration": "namespace",
        "class_declaration": "class", "interface_declaration": "interface", "struct_declaration": "struct",
        "enum_declaration": "enum", "record_declaration": "record", "method_declaration": "method",
        "constructor_declaration": "constructor",
    },
    "ruby": {"module": "module", "class": "class", "method": "def", "singleton_method": "def"},
    "php": {
        "namespace_definition": "namespace", "class_declaration": "class",
        "interface_declaration": "interface", "trait_declaration": "trait", "enum_declaration": "enum",
        "function_definition": "function", "method_declaration": "function",
    },
    "kotlin": {"class_declaration": "class", "object_declaration": "object", "function_declaration": "fun"},
    "swift": {
        "class_declaration": "class", "protocol_declaration": "protocol", "function_declaration": "func",
        "init_declaration": "init",
    },
    "scala": {
        "class_definition": "class", "object_definition": "object", "trait_definition": "trait",
        "function_definition": "def",
    },
    "lua": {"function_declaration": "function"},
    "bash": {"function_definition": "function"},
}  # fmt: skip

# A declaration keyword that says more than the table's label (Kotlin `interface`, Swift `struct`...).
KEYWORD_LABELS = {"class", "interface", "struct", "enum", "extension", "actor", "object", "protocol"}
# Declarations that only count with a body (C `struct S;` and `struct S x;` are not definitions).
NEEDS_BODY = {"struct_specifier", "enum_specifier", "class_specifier"}
# A variable whose value is one of these is shown as a function (JavaScript, TypeScript).
FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function"}
# Node types that hold a name when the grammar has no `name` field (Kotlin, C declarators).
NAME_TYPES = {
    "identifier", "type_identifier", "simple_identifier", "field_identifier", "qualified_identifier",
    "destructor_name", "operator_name", "constant", "name", "word", "property_identifier",
}  # fmt: skip
PARAMETER_TYPES = {"function_value_parameters", "formal_parameters", "parameter_list", "parameters"}
