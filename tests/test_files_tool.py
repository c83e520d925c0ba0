"""The file tools on real files: view, create, str_replace, insert, undo_edit, atomic writes."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from rioagent.messages import ToolCall
from rioagent.tools import atomic, files
from rioagent.tools.base import ToolContext, ToolError, ToolRegistry, load_specs


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ToolContext(workspace=ws, artifacts_dir=tmp_path / "art")


def write(ctx: ToolContext, name: str, data: bytes | str) -> Path:
    path = ctx.workspace / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# ---------------------------------------------------------------- specs


def test_specs_load_and_dispatch(ctx: ToolContext) -> None:
    specs = load_specs(["view", "create", "str_replace", "insert", "undo_edit"])
    assert {s.name: s.access for s in specs} == {
        "view": "read",
        "create": "edit",
        "str_replace": "edit",
        "insert": "edit",
        "undo_edit": "edit",
    }
    registry = ToolRegistry(specs)
    write(ctx, "a.txt", "hello\n")
    result = registry.run(ctx, ToolCall(id="1", name="view", arguments={"path": "a.txt"}))
    assert not result.is_error and "hello" in result.output
    bad = registry.run(ctx, ToolCall(id="2", name="view", arguments={"path": "nope.txt"}))
    assert bad.is_error and "does not exist" in bad.output


# ---------------------------------------------------------------- view


def test_view_numbers_lines_like_cat_n(ctx: ToolContext) -> None:
    write(ctx, "a.py", "one\ntwo\nthree\n")
    out = files.view(ctx, "a.py").output
    assert out == "     1\tone\n     2\ttwo\n     3\tthree"


def test_view_line_ranges(ctx: ToolContext) -> None:
    write(ctx, "a.txt", "".join(f"line {i}\n" for i in range(1, 11)))
    assert files.view(ctx, "a.txt", start_line=3, end_line=4).output == "     3\tline 3\n     4\tline 4"
    tail = files.view(ctx, "a.txt", start_line=9, end_line=-1).output
    assert tail.splitlines() == ["     9\tline 9", "    10\tline 10"]
    with pytest.raises(ToolError, match=r"past the end.*10 lines"):
        files.view(ctx, "a.txt", start_line=11)
    with pytest.raises(ToolError, match="before start_line"):
        files.view(ctx, "a.txt", start_line=5, end_line=2)


def test_view_pages_large_files(ctx: ToolContext) -> None:
    write(ctx, "big.txt", "".join(f"row {i}\n" for i in range(1, 1001)))
    first = files.view(ctx, "big.txt").output
    assert first.count("\n") <= files.VIEW_MAX_LINES + 1
    assert "     1\trow 1" in first and "row 401\n" not in first + "\n"
    assert "start_line=401" in first and "of 1000" in first
    second = files.view(ctx, "big.txt", start_line=401).output
    assert second.startswith("   401\trow 401") and "start_line=801" in second
    # The character budget pages too: 100 lines of 1,000 chars exceed 20k characters.
    write(ctx, "wide.txt", "".join("x" * 1000 + "\n" for _ in range(100)))
    wide = files.view(ctx, "wide.txt").output
    assert len(wide) < files.VIEW_MAX_CHARS + 200 and "call view with start_line=" in wide


def test_view_truncates_long_lines(ctx: ToolContext) -> None:
    write(ctx, "min.js", "a" * 50_000 + "\nshort\n")
    out = files.view(ctx, "min.js").output
    assert "[line truncated: 50000 chars]" in out and "     2\tshort" in out
    assert len(out) < 3000


def test_view_refuses_binary_and_images(ctx: ToolContext) -> None:
    write(ctx, "blob.bin", b"\x7fELF\x00\x01\x02" + bytes(range(256)) * 4)
    with pytest.raises(ToolError, match=r"binary file.*1031 bytes.*xxd \| head"):
        files.view(ctx, "blob.bin")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    write(ctx, "shot.png", png)
    with pytest.raises(ToolError, match="PNG image"):
        files.view(ctx, "shot.png")
    write(ctx, "renamed.dat", png)  # recognised by its magic, not its name
    with pytest.raises(ToolError, match="PNG image"):
        files.view(ctx, "renamed.dat")
    write(ctx, "doc.pdf", b"%PDF-1.7\n...")
    with pytest.raises(ToolError, match="PDF"):
        files.view(ctx, "doc.pdf")


def test_view_decodes_other_encodings(ctx: ToolContext) -> None:
    write(ctx, "latin.txt", "café crème\n".encode("latin-1"))
    out = files.view(ctx, "latin.txt").output
    assert "latin-1" in out and "café crème" in out
    write(ctx, "win.txt", "“quoted” – dash\n".encode("cp1252"))
    assert "cp1252" in files.view(ctx, "win.txt").output
    write(ctx, "u16.txt", "\ufeffwide text\n".encode("utf-16-le"))
    out16 = files.view(ctx, "u16.txt").output
    assert "utf-16-le with BOM" in out16 and "     1\twide text" in out16
    write(ctx, "bom.txt", b"\xef\xbb\xbfx = 1\n")
    assert "\tx = 1" in files.view(ctx, "bom.txt").output


def test_view_missing_file_suggests_names(ctx: ToolContext) -> None:
    write(ctx, "config.py", "x\n")
    with pytest.raises(ToolError, match=r"does not exist.*config.py"):
        files.view(ctx, "confg.py")


def test_view_directory_tree_respects_gitignore(ctx: ToolContext) -> None:
    write(ctx, ".gitignore", "build/\n*.log\n!keep.log\n")
    write(ctx, "src/app.py", "print('hi')\n")
    write(ctx, "src/pkg/deep/too_deep.py", "")
    write(ctx, "src/.gitignore", "secret.txt\n")
    write(ctx, "src/secret.txt", "s")
    write(ctx, "build/out.o", "x")
    write(ctx, "debug.log", "x")
    write(ctx, "keep.log", "x")
    write(ctx, "node_modules/lib/index.js", "x")
    write(ctx, "__pycache__/a.pyc", "x")
    write(ctx, ".venv/bin/python", "x")
    write(ctx, ".git/HEAD", "ref")
    out = files.view(ctx, ".").output
    assert "src/" in out and "app.py" in out and "keep.log" in out and "12 B" in out
    assert "pkg/  (1 entry)" in out  # depth 2 shows the folder and its count...
    assert "too_deep.py" not in out and "deep/" not in out  # ...but not below it
    for hidden in ("build", "debug.log", "node_modules", "__pycache__", ".venv", "HEAD", "secret.txt"):
        assert hidden not in out.split("[tree")[0], hidden
    sub = files.view(ctx, "src").output
    assert sub.startswith("src/") and "app.py" in sub and "secret.txt" not in sub


# ---------------------------------------------------------------- paths


def test_paths_outside_the_workspace_are_refused(ctx: ToolContext, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    (ctx.workspace / "link.txt").symlink_to(outside)
    for path in ("../outside.txt", str(outside), "link.txt"):
        with pytest.raises(ToolError, match="outside the workspace"):
            files.view(ctx, path)
        with pytest.raises(ToolError, match="outside the workspace"):
            files.str_replace(ctx, path, "secret", "changed")
        with pytest.raises(ToolError, match="outside the workspace"):
            files.create(ctx, path, "x")
    assert outside.read_text() == "secret\n"


def test_symlink_inside_workspace_edits_the_target(ctx: ToolContext) -> None:
    real = write(ctx, "real.txt", "a\n")
    (ctx.workspace / "alias.txt").symlink_to(real)
    files.str_replace(ctx, "alias.txt", "a", "b")
    assert real.read_text() == "b\n" and (ctx.workspace / "alias.txt").is_symlink()


# ---------------------------------------------------------------- create


def test_create_makes_parents_and_mode_0644(ctx: ToolContext) -> None:
    result = files.create(ctx, "pkg/sub/mod.py", "x = 1\ny = 2\n")
    path = ctx.workspace / "pkg/sub/mod.py"
    assert path.read_text() == "x = 1\ny = 2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert "Created pkg/sub/mod.py (2 lines" in result.output
    assert result.changed_paths == ["pkg/sub/mod.py"]
    assert "+x = 1" in result.data["diff"] and result.data["path"] == "pkg/sub/mod.py"


def test_create_overwrites_and_keeps_format(ctx: ToolContext) -> None:
    path = write(ctx, "run.bat", b"@echo off\r\necho old\r\n")
    path.chmod(0o755)
    result = files.create(ctx, "run.bat", "@echo off\necho new\n")
    assert "Overwrote run.bat" in result.output
    assert path.read_bytes() == b"@echo off\r\necho new\r\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert "-echo old" in result.data["diff"] and "+echo new" in result.data["diff"]
    with pytest.raises(ToolError, match="is a directory"):
        files.create(ctx, ".", "x")


# ---------------------------------------------------------------- str_replace


def test_str_replace_edits_and_shows_the_region(ctx: ToolContext) -> None:
    body = "".join(f"line {i}\n" for i in range(1, 21))
    path = write(ctx, "a.txt", body)
    result = files.str_replace(ctx, "a.txt", "line 10\nline 11\n", "ten\neleven\nextra\n")
    assert path.read_text() == body.replace("line 10\nline 11\n", "ten\neleven\nextra\n")
    out = result.output
    assert (
        "     7\tline 7" in out
        and "    10\tten" in out
        and "    12\textra" in out
        and "    15\tline 14" in out
    )
    assert "line 3\n" not in out
    diff = result.data["diff"]
    assert diff.startswith("--- a/a.txt\n+++ b/a.txt\n@@ -7,8 +7,9 @@")
    assert "-line 10" in diff and "+extra" in diff
    assert result.changed_paths == ["a.txt"]


def test_str_replace_delete_and_trailing_newline_kept(ctx: ToolContext) -> None:
    path = write(ctx, "a.txt", "keep\ndrop\nlast")
    files.str_replace(ctx, "a.txt", "drop\n", "")
    assert path.read_bytes() == b"keep\nlast"
    files.str_replace(ctx, "a.txt", "last", "final")
    assert path.read_bytes() == b"keep\nfinal"


def test_str_replace_no_match_shows_closest_lines_and_hints(ctx: ToolContext) -> None:
    src = "def a():\n    return 1\n\n\ndef compute(x):\n    total = x * 2\n    return total\n"
    write(ctx, "m.py", src)
    with pytest.raises(ToolError) as err:
        files.str_replace(ctx, "m.py", "def compute(x):\n    total = x * 3\n", "X")
    msg = str(err.value)
    assert "not found in m.py" in msg
    assert "lines 5-6" in msg and "     5\tdef compute(x):" in msg and "     6\t    total = x * 2" in msg
    with pytest.raises(ToolError) as err:
        files.str_replace(ctx, "m.py", "def compute(x):\n  total = x * 2\n", "X")
    assert "only in indentation" in str(err.value)
    with pytest.raises(ToolError) as err:
        files.str_replace(ctx, "m.py", "     5\tdef compute(x):\n     6\t    total = x * 2\n", "X")
    assert "line numbers from view" in str(err.value)
    write(ctx, "tabs.py", "if x:\n\tpass\n")
    with pytest.raises(ToolError) as err:
        files.str_replace(ctx, "tabs.py", "if x:\n    pass\n", "X")
    assert "indents with tabs" in str(err.value)
    with pytest.raises(ToolError, match="Nothing similar"):
        files.str_replace(ctx, "m.py", "zzzzqqqq", "X")
    assert (ctx.workspace / "m.py").read_text() == src


def test_str_replace_fuzzy_when_every_line_differs(ctx: ToolContext) -> None:
    lines = [f"value_{i} = compute_something({i})" for i in range(300)]
    write(ctx, "v.py", "\n".join(lines) + "\n")
    with pytest.raises(ToolError) as err:
        files.str_replace(ctx, "v.py", "value_150 = compute_somthing(150)", "X")
    assert "line 151:" in str(err.value)


def test_str_replace_multiple_matches_lists_lines(ctx: ToolContext) -> None:
    write(ctx, "d.py", "x = 1\ny = 2\nx = 1\n\nx = 1\n")
    with pytest.raises(ToolError, match=r"occurs 3 times .*lines 1, 3, 5\)"):
        files.str_replace(ctx, "d.py", "x = 1", "x = 9")


def test_str_replace_rejects_empty_and_noop(ctx: ToolContext) -> None:
    write(ctx, "a.txt", "a\n")
    with pytest.raises(ToolError, match="old_str is empty"):
        files.str_replace(ctx, "a.txt", "", "b")
    with pytest.raises(ToolError, match="the same"):
        files.str_replace(ctx, "a.txt", "a", "a")
    with pytest.raises(ToolError, match="use create"):
        files.str_replace(ctx, "missing.txt", "a", "b")


def test_crlf_preserved(ctx: ToolContext) -> None:
    path = write(ctx, "w.txt", b"alpha\r\nbeta\r\ngamma\r\n")
    files.str_replace(ctx, "w.txt", "alpha\nbeta\n", "alpha\nBETA\nnew\n")
    assert path.read_bytes() == b"alpha\r\nBETA\r\nnew\r\ngamma\r\n"
    files.insert(ctx, "w.txt", 0, "top")
    assert path.read_bytes() == b"top\r\nalpha\r\nBETA\r\nnew\r\ngamma\r\n"
    assert "CRLF line endings" in files.view(ctx, "w.txt").output


def test_mixed_line_endings_are_unified_with_a_note(ctx: ToolContext) -> None:
    path = write(ctx, "m.txt", b"a\r\nb\r\nc\nd\r\n")
    result = files.str_replace(ctx, "m.txt", "b\nc\n", "B\nC\n")
    assert path.read_bytes() == b"a\r\nB\r\nC\r\nd\r\n"
    assert "mixed line endings" in result.output


def test_latin1_file_stays_latin1(ctx: ToolContext) -> None:
    path = write(ctx, "l.txt", "naïve = 'café'\n".encode("latin-1"))
    files.str_replace(ctx, "l.txt", "café", "crème brûlée")
    assert path.read_bytes() == "naïve = 'crème brûlée'\n".encode("latin-1")
    with pytest.raises(ToolError, match=r"latin-1.*cannot hold"):
        files.str_replace(ctx, "l.txt", "naïve", "日本")
    assert path.read_bytes() == "naïve = 'crème brûlée'\n".encode("latin-1")


def test_utf8_bom_and_utf16_kept(ctx: ToolContext) -> None:
    path = write(ctx, "b.txt", b"\xef\xbb\xbfkey=old\n")
    files.str_replace(ctx, "b.txt", "old", "new")
    assert path.read_bytes() == b"\xef\xbb\xbfkey=new\n"
    wide = write(ctx, "w16.txt", "\ufeffa\r\nb\r\n".encode("utf-16-be"))
    files.insert(ctx, "w16.txt", 1, "mid")
    assert wide.read_bytes() == "\ufeffa\r\nmid\r\nb\r\n".encode("utf-16-be")


def test_executable_bit_kept(ctx: ToolContext) -> None:
    path = write(ctx, "run.sh", "#!/bin/sh\necho hi\n")
    path.chmod(0o750)
    files.str_replace(ctx, "run.sh", "echo hi", "echo bye")
    assert stat.S_IMODE(path.stat().st_mode) == 0o750
    assert path.read_text() == "#!/bin/sh\necho bye\n"


def test_str_replace_is_fast_on_10k_lines(ctx: ToolContext) -> None:
    write(ctx, "big.py", "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(5000)))
    files.str_replace(ctx, "big.py", "return x + 1\n", "return x + 1  # warm-up\n")
    timings = []
    for i in range(5):
        t0 = time.perf_counter()
        files.str_replace(ctx, "big.py", f"def f{2500 + i}(x):\n", f"def g{2500 + i}(x):\n")
        timings.append(time.perf_counter() - t0)
    best = min(timings) * 1000
    print(f"str_replace on a 10,000-line file: best {best:.2f} ms, worst {max(timings) * 1000:.2f} ms")
    assert best < 50
    assert "def g2504(x):" in (ctx.workspace / "big.py").read_text()


# ---------------------------------------------------------------- insert


def test_insert_positions(ctx: ToolContext) -> None:
    path = write(ctx, "i.txt", "a\nb\n")
    files.insert(ctx, "i.txt", 0, "top")
    files.insert(ctx, "i.txt", 2, "after a\n")
    result = files.insert(ctx, "i.txt", -1, "end")
    assert path.read_text() == "top\na\nafter a\nb\nend\n"
    assert "     5\tend" in result.output and "+end" in result.data["diff"]
    with pytest.raises(ToolError, match=r"out of range.*has 5 lines"):
        files.insert(ctx, "i.txt", 9, "x")


def test_insert_keeps_missing_final_newline(ctx: ToolContext) -> None:
    path = write(ctx, "n.txt", "a\nb")
    files.insert(ctx, "n.txt", 2, "c\n")
    assert path.read_bytes() == b"a\nb\nc"
    files.insert(ctx, "n.txt", 1, "x")
    assert path.read_bytes() == b"a\nx\nb\nc"


# ---------------------------------------------------------------- undo


def test_undo_multi_level(ctx: ToolContext) -> None:
    path = write(ctx, "u.txt", "v1\n")
    path.chmod(0o700)
    files.str_replace(ctx, "u.txt", "v1", "v2")
    files.insert(ctx, "u.txt", 1, "more")
    files.create(ctx, "u.txt", "rewritten\n")
    assert files.edit_history(ctx).depth(path) == 3
    result = files.undo_edit(ctx, "u.txt")
    assert path.read_text() == "v2\nmore\n" and "2 more undo level" in result.output
    assert "-rewritten" in result.data["diff"] and result.changed_paths == ["u.txt"]
    files.undo_edit(ctx, "u.txt")
    assert path.read_text() == "v2\n"
    files.undo_edit(ctx, "u.txt")
    assert path.read_text() == "v1\n" and stat.S_IMODE(path.stat().st_mode) == 0o700
    with pytest.raises(ToolError, match="no edits to undo"):
        files.undo_edit(ctx, "u.txt")


def test_undo_of_create_deletes_file_and_new_folders(ctx: ToolContext) -> None:
    files.create(ctx, "new/dir/f.txt", "hi\n")
    result = files.undo_edit(ctx, "new/dir/f.txt")
    assert "deleted" in result.output
    assert not (ctx.workspace / "new").exists()
    assert files.edit_history(ctx).paths() == []


def test_undo_notes_later_outside_changes(ctx: ToolContext) -> None:
    path = write(ctx, "c.txt", "one\n")
    files.str_replace(ctx, "c.txt", "one", "two")
    path.write_text("three\n")  # as if a shell command changed it
    result = files.undo_edit(ctx, "c.txt")
    assert path.read_text() == "one\n" and "had changed since" in result.output


def test_history_lives_in_ctx_state(ctx: ToolContext) -> None:
    files.create(ctx, "s.txt", "x")
    history = files.edit_history(ctx)
    assert ctx.state["edit_history"] is history
    assert history.paths() == [(ctx.workspace / "s.txt").resolve()]


# ---------------------------------------------------------------- atomic writes


def test_failed_write_leaves_original_and_no_temp(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(ctx, "safe.txt", "original\n")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ToolError, match=r"cannot write safe\.txt: disk full; the file is unchanged"):
        files.str_replace(ctx, "safe.txt", "original", "changed")
    assert path.read_text() == "original\n"
    assert sorted(p.name for p in ctx.workspace.iterdir()) == ["safe.txt"]
    # A failed edit is not recorded, so there is nothing to undo.
    assert files.edit_history(ctx).depth(path.resolve()) == 0


def test_atomic_write_new_file_and_decode_helpers(tmp_path: Path) -> None:
    target = tmp_path / "n.txt"
    atomic.atomic_write(target, b"data")
    assert target.read_bytes() == b"data" and stat.S_IMODE(target.stat().st_mode) == 0o644
    tf = atomic.decode(b"x\ry\r")
    assert tf.newline == "\r" and tf.text == "x\ny\n" and tf.encode() == b"x\ry\r"
    with pytest.raises(atomic.NotTextError):
        atomic.decode(bytes([1, 2, 3, 4, 5, 0x90, 6, 7]) * 10)
