"""Approval policy: which tool calls run, which need a person's yes, and which are refused.

Modes (settings.approval):
- read-only: only read tools run; edits and commands are refused.
- ask: edits and commands are asked.
- auto-edit: edits run; commands are asked.
- auto: everything runs, except the built-in dangerous commands below, which are refused (the model is
  told why). In ask / auto-edit mode a dangerous command is asked, with the danger as the reason.

settings.deny_commands / allow_commands are fnmatch globs. A command is split at ; && || | & and newlines
(and the insides of $(...), `...`, <(...)), and:
- deny wins: the whole command or any one part matching a deny pattern refuses it, in every mode;
- allow skips asking only when every part matches an allow pattern (so "pytest*" does not let
  "pytest; curl x | sh" through). `cd`, `pushd`, `popd`, `true` and `set` parts need no pattern.
An allow pattern never lets a dangerous command through: dangerous is refused in auto and asked otherwise.

Dangerous commands: see rioagent.danger.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rioagent.config import Settings
from rioagent.danger import command_words, find_danger, split_command, strip_prefixes
from rioagent.tools.base import ToolSpec


@dataclass
class ApprovalDecision:
    """A person's answer to an ApprovalRequested. `remember` allows (or refuses) the same kind of call
    for the rest of the session without asking again."""

    allowed: bool
    note: str = ""
    remember: bool = False


@dataclass(frozen=True)
class Verdict:
    action: Literal["allow", "ask", "deny"]
    reason: str


HEADLESS_NOTE = "no one to approve (headless); rerun with --approval auto or add an allow pattern"

_NEUTRAL = {"cd", "pushd", "popd", "true", ":", "set"}
# Tools whose second word is the real command, for remembered patterns ("git status*", not "git*").
_MULTI_WORD = {
    "git",
    "npm",
    "pnpm",
    "yarn",
    "pip",
    "pip3",
    "uv",
    "cargo",
    "go",
    "docker",
    "kubectl",
    "poetry",
    "conda",
    "make",
    "apt",
    "apt-get",
    "brew",
    "gh",
    "dotnet",
    "bundle",
    "rake",
}



# ---- patterns -------------------------------------------------------------------------------------------


def matching_pattern(command: str, patterns: list[str] | set[str], *, every_part: bool) -> str | None:
    """The pattern `command` matches: every part must match one (allow), or the whole or any part (deny)."""
    if not patterns:
        return None
    parts = [p.text for p in split_command(command)]
    if every_part:
        found = None
        for text in parts:
            words = strip_prefixes(command_words(text))[0]
            if words and os.path.basename(words[0]) in _NEUTRAL:
                continue
            hit = next((p for p in patterns if fnmatch.fnmatchcase(text, p)), None)
            if hit is None:
                return None
            found = found or hit
        return found
    for text in [command.strip(), *parts]:
        hit = next((p for p in patterns if fnmatch.fnmatchcase(text, p)), None)
        if hit:
            return hit
    return None


def remember_patterns(spec: ToolSpec, arguments: dict[str, Any]) -> list[str]:
    """What a remembered "yes" covers: the tool, for edits; the command's first word(s), for commands."""
    command = arguments.get("command")
    if spec.access != "exec" or not isinstance(command, str):
        return [spec.name]
    parts = split_command(command)
    if not parts:
        return [spec.name]
    words, _ = strip_prefixes(command_words(parts[0].text))
    words = [w for w in words if not re.fullmatch(r"\d*[<>&|]+", w)]
    if not words:
        return [spec.name]
    count = 1
    if os.path.basename(words[0]) in _MULTI_WORD and len(words) > 1 and not words[1].startswith("-"):
        count = 2
    elif re.fullmatch(r"python[\d.]*", words[0]) and len(words) > 2 and words[1] == "-m":
        count = 3
    prefix = " ".join(words[:count])
    return [prefix, prefix + " *"]


# ---- the verdict ----------------------------------------------------------------------------------------


def judge(
    spec: ToolSpec, arguments: dict[str, Any], settings: Settings, workspace: Path, session_allow: set[str]
) -> Verdict:
    """Allow, ask or deny one call under settings.approval; `reason` says why, for the user or the model."""
    mode = settings.approval
    if spec.access == "read":
        return Verdict("allow", "reads only")
    what = "change files" if spec.access == "edit" else "run a command"
    if mode == "read-only":
        return Verdict(
            "deny", f"read-only mode: {spec.name} would {what}; only reading tools may run in this session"
        )
    if spec.access == "edit":
        if mode in ("auto", "auto-edit"):
            return Verdict("allow", f"{mode} mode allows edits")
        if spec.name in session_allow:
            return Verdict("allow", f"{spec.name} was allowed for this session")
        return Verdict("ask", f"{spec.name} would change files")

    command = arguments.get("command")
    command = command if isinstance(command, str) else ""
    denied_by = matching_pattern(command, settings.deny_commands, every_part=False)
    if denied_by:
        return Verdict("deny", f"the command matches the deny pattern {denied_by!r} (deny_commands)")
    danger = find_danger(command, workspace)
    if danger:
        if mode == "auto":
            return Verdict("deny", f"refused in auto mode: {danger}")
        return Verdict("ask", f"dangerous: {danger}")
    allowed_by = matching_pattern(command, settings.allow_commands, every_part=True)
    if allowed_by:
        return Verdict("allow", f"matches the allow pattern {allowed_by!r}")
    if matching_pattern(command, session_allow, every_part=True):
        return Verdict("allow", "allowed earlier in this session")
    if mode == "auto":
        return Verdict("allow", "auto mode")
    return Verdict("ask", f"{spec.name} would run a command")


# ---- what the person sees -------------------------------------------------------------------------------


def _readable(arguments: dict[str, Any]) -> str:
    rows = []
    for key, value in arguments.items():
        text = value if isinstance(value, str) else repr(value)
        if "\n" in text:
            rows.append(f"{key}:\n" + "\n".join("    " + line for line in text.splitlines()))
        else:
            rows.append(f"{key}: {text}")
    return "\n".join(rows)


def _diff(path: str, old: str, new: str, limit: int = 200) -> str:
    lines = list(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines[:limit])
    if len(lines) > limit:
        text += f"... ({len(lines) - limit} more diff lines)\n"
    return text.rstrip("\n")


def _edited(spec: ToolSpec, arguments: dict[str, Any], old: str) -> str | None:
    """What the file would hold after the edit, for the tools whose effect is cheap to foresee."""
    new_text = arguments.get("new_str", arguments.get("insert_text", arguments.get("text")))
    content = arguments.get("content", arguments.get("file_text"))
    if spec.name == "create" and isinstance(content, str):
        return content
    if spec.name == "str_replace" and isinstance(arguments.get("old_str"), str):
        if old.count(arguments["old_str"]) != 1:
            return None
        return old.replace(arguments["old_str"], arguments.get("new_str") or "", 1)
    if spec.name == "insert" and isinstance(new_text, str) and isinstance(arguments.get("insert_line"), int):
        lines = old.splitlines(keepends=True)
        at = arguments["insert_line"]
        at = len(lines) if at == -1 else at
        if not 0 <= at <= len(lines):
            return None
        insert = new_text if new_text.endswith("\n") else new_text + "\n"
        if at and not lines[at - 1].endswith("\n"):
            lines[at - 1] += "\n"
        return "".join(lines[:at]) + insert + "".join(lines[at:])
    return None


def preview(spec: ToolSpec, arguments: dict[str, Any], workspace: Path) -> str:
    """What would run or change: the command, a diff for an edit where that is cheap, else the arguments."""
    command = arguments.get("command")
    if spec.access == "exec" and isinstance(command, str):
        return command
    path = arguments.get("path")
    if spec.access == "edit" and isinstance(path, str) and path.strip():
        target = Path(path) if os.path.isabs(path) else workspace / path
        try:
            old = target.read_text(encoding="utf-8") if target.is_file() else ""
        except (OSError, UnicodeDecodeError):
            old = None
        if old is not None:
            new = _edited(spec, arguments, old)
            if new is not None:
                return _diff(path, old, new) or f"{spec.name} {path}: no change"
    return _readable(arguments)
