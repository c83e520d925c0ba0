"""outline on real source files: symbols, nesting and line numbers per language, folders, refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rioagent.tools import outline as outline_mod
from rioagent.tools.base import ToolContext, ToolError
from rioagent.tools.outline import outline


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ToolContext(workspace=ws, artifacts_dir=tmp_path / "art")


def write(ctx: ToolContext, name: str, data: str | bytes) -> None:
    path = ctx.workspace / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


PYTHON = '''\
"""Module docstring."""
import os


class Parser(Base):
    """A parser."""

    def __init__(self, text: str) -> None:
        self.text = text

    def parse(self):
        def helper(x):
            return x

        return helper(self.text)

    @property
    def size(self) -> int:
        return len(self.text)

    class Inner:
        pass


@functools.cache
async def fetch(url, *, retries=3):
    async def attempt():
        pass


def top_level():
    pass
'''


def test_python_classes_methods_nesting_decorators_async(ctx: ToolContext) -> None:
    write(ctx, "pkg/parser.py", PYTHON)
    assert outline(ctx, "pkg/parser.py").splitlines() == [
        "    5  class Parser",
        "    8    def __init__(self, text: str)",
        "   11    def parse(self)",
        "   12      def helper(x)",
        "   18    @property def size(self)",
        "   21    class Inner",
        "   26  @functools.cache async def fetch(url, *, retries=3)",
        "   27    async def attempt()",
        "   31  def top_level()",
    ]


SOURCES = {
    "web/app.ts": (
        "interface Shape {\n  area(): number\n}\n\nexport class Circle implements Shape {\n"
        "  constructor(private r: number) {}\n  area(): number {\n    return 3.14 * this.r ** 2\n  }\n}\n\n"
        "export const scale = (s: Shape, k: number) => k\n\nenum Color { Red }\n"
    ),
    "web/ui.js": "class View {\n  render() {}\n}\n\nfunction mount(el) {\n  return new View()\n}\n",
    "cmd/main.go": (
        "package main\n\ntype Server struct {\n\taddr string\n}\n\n"
        "func (s *Server) Start(port int) error {\n\treturn nil\n}\n\nfunc main() {\n}\n"
    ),
    "src/lib.rs": (
        "pub struct Stack<T> {\n    items: Vec<T>,\n}\n\nimpl<T> Stack<T> {\n"
        "    pub fn push(&mut self, item: T) {\n        self.items.push(item);\n    }\n}\n\n"
        "trait Named {\n    fn name(&self) -> String;\n}\n\nfn main() {}\n"
    ),
    "App.java": (
        "package demo;\n\npublic class App {\n    private int n;\n\n"
        "    public App(int n) {\n        this.n = n;\n    }\n\n"
        '    @Override\n    public String toString() {\n        return "";\n    }\n}\n'
    ),
    "native/buf.c": (
        "#include <stdio.h>\n\nstruct buf {\n  int len;\n};\n\n"
        "static int *grow(struct buf *b, int n) {\n  return 0;\n}\n"
    ),
    "lib/greeter.rb": (
        "module Greet\n  class Greeter\n    def hello(name)\n    end\n\n"
        "    def self.build\n    end\n  end\nend\n"
    ),
    "scripts/run.sh": "#!/bin/bash\nsetup() {\n  echo hi\n}\n\nfunction teardown {\n  echo bye\n}\n",
}
EXPECTED = {
    "web/app.ts": [
        "    1  interface Shape",
        "    5  class Circle",
        "    6    method constructor(private r: number)",
        "    7    method area()",
        "   12  function scale(s: Shape, k: number)",
        "   14  enum Color",
    ],
    "web/ui.js": ["    1  class View", "    2    method render()", "    5  function mount(el)"],
    "cmd/main.go": [
        "    3  type Server struct",
        "    7  func (s *Server) Start(port int)",
        "   11  func main()",
    ],
    "src/lib.rs": [
        "    1  struct Stack",
        "    5  impl Stack<T>",
        "    6    fn push(&mut self, item: T)",
        "   11  trait Named",
        "   12    fn name(&self)",
        "   15  fn main()",
    ],
    "App.java": ["    3  class App", "    6    constructor App(int n)", "   11    method toString()"],
    "native/buf.c": ["    3  struct buf", "    7  function grow(struct buf *b, int n)"],
    "lib/greeter.rb": [
        "    1  module Greet",
        "    2    class Greeter",
        "    3      def hello(name)",
        "    6      def self.build",
    ],
    "scripts/run.sh": ["    2  function setup", "    6  function teardown"],
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_other_languages_with_line_numbers(ctx: ToolContext, name: str) -> None:
    write(ctx, name, SOURCES[name])
    rows = outline(ctx, name).splitlines()
    assert rows == EXPECTED[name]
    source_lines = SOURCES[name].splitlines()
    for row in rows:  # every line number points at the line that names the symbol
        line, _, symbol = row.strip().partition("  ")
        word = symbol.split()[-1].split("(")[0].split(".")[-1].split("<")[0]
        assert word in source_lines[int(line) - 1], (row, source_lines[int(line) - 1])


def test_every_mapped_language_parses(ctx: ToolContext) -> None:
    samples = {
        "a.tsx": "function C(p: P) { return <div/> }\n",
        "a.cpp": "namespace n { class A { int m() { return 1; } }; }\n",
        "a.cs": "namespace N { class A { void M() {} } }\n", "a.php": "<?php\nclass A { function m() {} }\n",
        "a.kt": "class A {\n  fun m() {}\n}\n", "a.swift": "struct S {\n  func m() {}\n}\n",
        "a.scala": "object O {\n  def m(): Int = 1\n}\n", "a.lua": "local function f(a)\nend\n",
    }  # fmt: skip
    for name, source in samples.items():
        write(ctx, name, source)
        rows = outline(ctx, name).splitlines()
        assert len(rows) >= 1 and "no classes" not in rows[0], (name, rows)
    assert outline(ctx, "a.swift").splitlines() == ["    1  struct S", "    2    func m()"]
    assert outline(ctx, "a.kt").splitlines() == ["    1  class A", "    2    fun m()"]
    assert outline(ctx, "a.cpp").splitlines() == [
        "    1  namespace n",
        "    1    class A",
        "    1      function m()",
    ]


def test_folder_outline_honours_gitignore(ctx: ToolContext) -> None:
    subprocess.run(["git", "init", "-q"], cwd=ctx.workspace, check=True)
    write(ctx, ".gitignore", "build/\n")
    write(ctx, "src/a.py", "class A:\n    def run(self):\n        pass\n")
    write(ctx, "src/b.go", "package b\n\nfunc B() {}\n")
    write(ctx, "src/empty.py", "X = 1\n")
    write(ctx, "build/gen.py", "def generated():\n    pass\n")
    write(ctx, "notes.txt", "def not_code():\n")
    out = outline(ctx, ".").splitlines()
    assert out == [
        "src/a.py",
        "    1  class A",
        "    2    def run(self)",
        "src/b.go",
        "    3  func B()",
        "[3 file(s) outlined; 1 without classes or functions]",
    ]
    assert outline(ctx, "src").splitlines()[0] == "src/a.py"


def test_folder_outline_is_capped(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(30):
        write(ctx, f"m{i:02}.py", "".join(f"def f{j}():\n    pass\n" for j in range(10)))
    monkeypatch.setattr(outline_mod, "MAX_ROWS", 50)
    out = outline(ctx, ".").splitlines()
    assert len(out) <= 52
    assert out[-2].startswith("[") and "more rows not shown; outline a subfolder or a single file" in out[-2]
    assert "more file(s) not read; outline a subfolder to see them" in out[-1]


def test_unsupported_binary_large_and_outside(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    write(ctx, "notes.txt", "hello\n")
    with pytest.raises(ToolError, match=r"unsupported file type\. Supported extensions: .*\.py.*\.rs"):
        outline(ctx, "notes.txt")
    write(ctx, "blob.py", b"\x00\x01\x02def x(): pass\n")
    with pytest.raises(ToolError, match="binary file"):
        outline(ctx, "blob.py")
    monkeypatch.setattr(outline_mod, "MAX_FILE_BYTES", 100)
    write(ctx, "big.py", "def f():\n    pass\n" * 20)
    with pytest.raises(ToolError, match="too large to outline"):
        outline(ctx, "big.py")
    with pytest.raises(ToolError, match="outside the workspace"):
        outline(ctx, "../elsewhere.py")
    with pytest.raises(ToolError, match="does not exist"):
        outline(ctx, "missing.py")
    write(ctx, "empty.py", "")
    assert outline(ctx, "empty.py") == "empty.py: no classes or functions found (python)"


def test_importing_the_module_does_not_load_tree_sitter() -> None:
    code = "import sys, rioagent.tools.outline; print('tree_sitter' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
