"""The built-in list of dangerous shell commands, and the splitting of a command line it needs.

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

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh", "ash"}
_INTERPRETERS = {"python", "python2", "python3", "perl", "ruby", "node", "php"}
_DOWNLOADERS = {"curl", "wget", "fetch", "aria2c"}
_SAFE_DEVICES = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero")
_FORK_BOMB = re.compile(r"([\w:.]+)\s*\(\)\s*\{[^}]*\1\s*\|\s*\1\s*&")
_SUB = "__rio_sub__"  # stands in for a $(...) in a part, so `rm -rf $(pwd)/x` is not read as `/x`


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


def command_words(text: str) -> list[str]:
    """Shell words with quotes removed; redirection operators come out as their own words."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: a rough split is still worth checking
        return text.split()


def strip_prefixes(words: list[str]) -> tuple[list[str], bool]:
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
    words = command_words(part.text)
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
    cmd_words, sudo = strip_prefixes(plain)
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
        first = strip_prefixes(command_words(part.text))[0][:1]
        is_download = bool(first) and os.path.basename(first[0]) in _DOWNLOADERS
        # Stays true along a pipeline (curl x | tee f | sh), resets at its end.
        downloading = part.pipe_next and (downloading or is_download)
    return None
