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

Dangerous (see find_danger): recursive rm / chmod / chown / find -delete of anything outside the workspace
(~, $HOME, /, .., absolute paths); rm --no-preserve-root; sudo rm -r; `$VAR/` targets that become / when the
variable is empty; git push --force / -f / --force-with-lease / +refspec / --mirror / --delete / :ref;
downloads piped or substituted into a shell (curl ... | sh, bash <(curl ...), sh -c "$(wget ...)");
redirections and tee writing outside the workspace; mkfs, wipefs, dd of=/dev/...; fork bombs; shutdown,
reboot, halt, poweroff; kill -1 and kill 1.
Writing or deleting under /tmp is allowed: it is scratch space tests and tools use, not the user's data.
So are /dev/null, /dev/stdout, /dev/stderr, /dev/tty and /dev/fd/N as redirection targets.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rioagent.config import Settings
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
_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh", "ash"}
_INTERPRETERS = {"python", "python2", "python3", "perl", "ruby", "node", "php"}
_DOWNLOADERS = {"curl", "wget", "fetch", "aria2c"}
_SAFE_DEVICES = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero")
_FORK_BOMB = re.compile(r"([\w:.]+)\s*\(\)\s*\{[^}]*\1\s*\|\s*\1\s*&")
_SUB = "__rio_sub__"  # stands in for a $(...) in a part, so `rm -rf $(pwd)/x` is not read as `/x`
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


# ---- splitting a command line ---------------------------------------------------------------------------


@dataclass
class Part:
    """One simple command of a command line: its text, the commands substituted into it, and whether
    its output is piped into the next part."""

    text: str
    subs: list[str] = field(default_factory=list)
    pipe_next: bool = False


def _matching_paren(text: str, start: int) -> int:
    """Index just past the ) closing the ( at `start` (quotes inside are respected)."""
    depth, i, quote = 0, start, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "\\":
            i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def split_command(command: str) -> list[Part]:
    """The simple commands of a shell command line, quotes respected; substitutions are split too."""
    parts: list[Part] = []
    buf: list[str] = []
    subs: list[str] = []

    def flush(pipe: bool = False) -> None:
        text = "".join(buf).strip()
        if text:
            parts.append(Part(text, list(subs), pipe))
        elif pipe and parts:
            parts[-1].pipe_next = True
        buf.clear()
        subs.clear()

    i, n, quote = 0, len(command), None
    while i < n:
        c = command[i]
        if quote == "'":
            buf.append(c)
            quote = None if c == "'" else quote
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            buf.append(command[i : i + 2])
            i += 2
            continue
        if command.startswith(("$(", "<(", ">("), i) and not command.startswith("$((", i):
            end = _matching_paren(command, i + 1)
            subs.append(command[i + 2 : end - 1])
            buf.append(_SUB)
            i = end
            continue
        if c == "`":
            end = command.find("`", i + 1)
            end = n if end < 0 else end
            subs.append(command[i + 1 : end])
            buf.append(_SUB)
            i = end + 1
            continue
        if quote == '"':
            buf.append(c)
            quote = None if c == '"' else quote
            i += 1
            continue
        if c in "'\"":
            quote = c
            buf.append(c)
            i += 1
            continue
        if c == "#" and (not buf or buf[-1] in (" ", "\t", "\n")):
            newline = command.find("\n", i)
            i = n if newline < 0 else newline
            continue
        two = command[i : i + 2]
        if two in ("&&", "||", ";;"):
            flush()
            i += 2
        elif two == "|&":
            flush(pipe=True)
            i += 2
        elif c == "|" and not (buf and buf[-1] == ">"):
            flush(pipe=True)
            i += 1
        elif c in ";\n":
            flush()
            i += 1
        elif c == "&" and not (buf and buf[-1] in "<>") and command[i + 1 : i + 2] != ">":
            flush()  # a background job: still a command of its own
            i += 1
        else:
            buf.append(c)
            i += 1
    flush()
    out: list[Part] = []
    for part in parts:
        out.append(part)
        for sub in part.subs:
            out.extend(split_command(sub))
    return out


def _words(text: str) -> list[str]:
    """Shell words with quotes removed; redirection operators come out as their own words."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: a rough split is still worth checking
        return text.split()


def _strip_prefixes(words: list[str]) -> tuple[list[str], bool]:
    """Drop what only wraps a command (VAR=x, sudo, env, nohup, time...); say whether sudo was one."""
    sudo = False
    i = 0
    while i < len(words):
        w = words[i]
        base = os.path.basename(w)
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w):
            i += 1
        elif base in ("sudo", "doas"):
            sudo = True
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 2 if words[i] in ("-u", "-g", "-C", "-h", "-p", "-U") else 1
        elif base in ("env", "nohup", "command", "builtin", "exec", "time", "stdbuf", "unbuffer"):
            i += 1
            while i < len(words) and (words[i].startswith("-") or "=" in words[i]):
                i += 1
        elif base in ("nice", "ionice"):
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 2 if words[i] in ("-n", "-c") else 1
        elif base == "timeout":
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 1
            i += 1  # the duration
        else:
            break
    return words[i:], sudo


# ---- the dangerous list ---------------------------------------------------------------------------------


def _resolve(target: str, workspace: Path) -> str | None:
    """Where a path argument points, as a normalised absolute path (globs cut off at their folder);
    None when it starts with a variable other than $HOME (unknowable here)."""
    home = str(Path.home())
    t = target
    if t == "~" or t.startswith("~/"):
        t = home + t[1:]
    elif t.startswith("~"):
        return "/home"  # ~user: someone's home, outside the workspace
    for var in ("$HOME", "${HOME}"):
        if t == var or t.startswith(var + "/"):
            t = home + t[len(var) :]
    for var in ("$PWD", "${PWD}"):
        if t == var or t.startswith(var + "/"):
            t = str(workspace) + t[len(var) :]
    if t.startswith("$"):
        return None
    glob = re.search(r"[*?\[]", t)
    if glob:
        t = t[: glob.start()]
        t = t[: t.rfind("/") + 1] if "/" in t else ""
    path = t if os.path.isabs(t) else os.path.join(str(workspace), t)
    return os.path.normpath(path)


def _outside(target: str, workspace: Path, *, tmp_ok: bool = True) -> bool:
    resolved = _resolve(target, workspace)
    if resolved is None:
        # `$DIR/` or `$DIR/*` is / itself when DIR is empty or unset.
        return re.fullmatch(r"\$\{?\w+\}?/\*?", target) is not None
    ws = os.path.normpath(str(workspace))
    if resolved == ws or resolved.startswith(ws.rstrip("/") + "/"):
        return False
    return not (tmp_ok and resolved.startswith("/tmp/") and resolved != "/tmp/")


def _operands(args: list[str]) -> list[str]:
    """Arguments that are not options (everything after `--` counts)."""
    out, options_done = [], False
    for a in args:
        if a == "--" and not options_done:
            options_done = True
        elif options_done or not a.startswith("-"):
            out.append(a)
    return out


def _recursive(args: list[str]) -> bool:
    return any(a == "--recursive" or re.fullmatch(r"-[A-Za-z]*[rR][A-Za-z]*", a) for a in args)


def _danger_rm(args: list[str], sudo: bool, workspace: Path) -> str | None:
    if "--no-preserve-root" in args:
        return "rm --no-preserve-root can delete the whole system"
    if not _recursive(args):
        return None
    if sudo:
        return "recursive delete as root (sudo rm -r)"
    for target in _operands(args):
        if _outside(target, workspace):
            return f"recursive delete of {target}, which is outside the workspace"
    return None


def _danger_git(args: list[str]) -> str | None:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("-C", "-c", "--git-dir", "--work-tree", "--namespace") else 1
    if i >= len(args) or args[i] != "push":
        return None
    rest = args[i + 1 :]
    for a in rest:
        if a in ("--force", "--mirror", "--delete", "-d", "--prune") or a.startswith(
            ("--force-with-lease", "--force-if-includes")
        ):
            return f"git push {a} rewrites or deletes history on the remote"
        if re.fullmatch(r"-[A-Za-z]*f[A-Za-z]*", a):
            return "git push -f rewrites history on the remote"
    positional = [a for a in rest if not a.startswith("-")]
    for ref in positional[1:]:  # the first is the remote
        if ref.startswith("+"):
            return f"git push {ref} force-pushes (the + refspec)"
        if ref.startswith(":"):
            return f"git push {ref} deletes a branch on the remote"
    return None


def _redirect_targets(words: list[str]) -> list[str]:
    targets = []
    for i, w in enumerate(words[:-1]):
        dup = w == ">&" and re.fullmatch(r"\d+|-", words[i + 1])  # 2>&1 duplicates a descriptor
        if w in (">", ">>", "&>", "&>>", ">|", "<>") or (w == ">&" and not dup):
            targets.append(words[i + 1])
    return targets


def _writes_outside(target: str, workspace: Path) -> bool:
    if target.startswith(("/dev/fd/", "/proc/self/fd/")) or target in _SAFE_DEVICES:
        return False
    return _outside(target, workspace)


def _no_script(args: list[str]) -> bool:
    """An interpreter given no script file: it runs what arrives on stdin."""
    return all(a.startswith("-") for a in args) or args[:1] == ["-"]


def _danger_part(part: Part, pipe_from_download: bool, workspace: Path) -> str | None:
    words = _words(part.text)
    for target in _redirect_targets(words):
        if _writes_outside(target, workspace):
            return f"writes to {target}, outside the workspace"
    # Redirections are done with; drop them so they are not read as operands.
    plain: list[str] = []
    skip = False
    for w in words:
        if skip:
            skip = False
        elif re.fullmatch(r"\d*(>>?|&>>?|>\||<>|>&|<&?|<<<?)", w):
            skip = True
        elif w not in ("(", ")", "{", "}"):
            plain.append(w)
    cmd_words, sudo = _strip_prefixes(plain)
    if not cmd_words:
        return None
    name, args = os.path.basename(cmd_words[0]), cmd_words[1:]

    runs_stdin = name in _SHELLS or re.sub(r"[\d.]+$", "", name) in _INTERPRETERS
    if pipe_from_download and runs_stdin and _no_script(args):
        return "pipes a download straight into a shell; download it, read it, then run it"
    if (name in _SHELLS or name in ("source", ".", "eval")) and any(
        re.search(r"\b(curl|wget|fetch)\b", s) for s in part.subs
    ):
        return "runs a downloaded script in a shell; download it, read it, then run it"
    if name in _SHELLS and "-c" in args:
        script = args[args.index("-c") + 1 : args.index("-c") + 2]
        if script:
            return find_danger(script[0], workspace)
    if name == "eval" and args:
        return find_danger(" ".join(args), workspace)
    if name == "rm":
        return _danger_rm(args, sudo, workspace)
    if name in ("chmod", "chown", "chgrp") and _recursive(args):
        targets = _operands(args)[1:]
        for target in targets:
            if _outside(target, workspace, tmp_ok=False) or target in ("/", "/*"):
                return f"recursive {name} of {target}, outside the workspace"
    if name == "find" and (
        "-delete" in args
        or any(
            a in ("-exec", "-execdir") and i + 1 < len(args) and os.path.basename(args[i + 1]) == "rm"
            for i, a in enumerate(args)
        )
    ):
        starts = []
        for a in args:
            if a.startswith(("-", "(", "!")):
                break
            starts.append(a)
        for start in starts:
            if _outside(start, workspace):
                return f"find ... -delete under {start}, outside the workspace"
    if name == "git":
        return _danger_git(args)
    if name == "tee":
        for target in _operands(args):
            if _writes_outside(target, workspace):
                return f"tee writes to {target}, outside the workspace"
    if name.startswith("mkfs") or name in ("mke2fs", "mkswap", "wipefs"):
        return f"{name} formats a disk"
    if name == "dd":
        for a in args:
            if a.startswith("of=/dev/") and a[3:] not in _SAFE_DEVICES:
                return f"dd {a} overwrites a device"
    if name in ("shutdown", "reboot", "halt", "poweroff") or (
        name in ("init", "telinit") and args[:1] in (["0"], ["6"])
    ):
        return f"{name} stops or restarts the machine"
    if name == "systemctl" and set(args) & {"poweroff", "reboot", "halt", "kexec", "suspend", "hibernate"}:
        return "systemctl would stop or restart the machine"
    if name == "kill" and ("-1" in args or "1" in _operands(args)):
        return "kill -1 / kill 1 signals every process (or init)"
    return None


def find_danger(command: str, workspace: Path) -> str | None:
    """Why `command` is on the built-in dangerous list, or None when it is not."""
    if _FORK_BOMB.search(command):
        return "a fork bomb"
    parts = split_command(command)
    downloading = False
    for part in parts:
        reason = _danger_part(part, downloading, workspace)
        if reason:
            return reason
        first = _strip_prefixes(_words(part.text))[0][:1]
        is_download = bool(first) and os.path.basename(first[0]) in _DOWNLOADERS
        # Stays true along a pipeline (curl x | tee f | sh), resets at its end.
        downloading = part.pipe_next and (downloading or is_download)
    return None


# ---- patterns -------------------------------------------------------------------------------------------


def matching_pattern(command: str, patterns: list[str] | set[str], *, every_part: bool) -> str | None:
    """The pattern `command` matches: every part must match one (allow), or the whole or any part (deny)."""
    if not patterns:
        return None
    parts = [p.text for p in split_command(command)]
    if every_part:
        found = None
        for text in parts:
            words = _strip_prefixes(_words(text))[0]
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
    words, _ = _strip_prefixes(_words(parts[0].text))
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
