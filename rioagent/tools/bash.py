"""The `bash` tool: one persistent interactive bash per session, driven through a pty (pexpect).

How a command runs, and why:
- The command text goes to a private file and the shell runs
  `set +e; __rio_tok=T; IFS= read -r -d '' __rio_cmd < FILE; eval -- "$__rio_cmd" < /dev/null`.
  Going through a file keeps the line typed into the tty short (a canonical tty line holds 4095 bytes),
  and `eval` of a complete text means an unclosed quote is a syntax error, never a shell stuck at PS2.
  `eval` runs in the shell itself, so `cd`, `export` and `source venv/bin/activate` persist.
- The end of a command is a marker printed by PROMPT_COMMAND (made readonly so the command cannot remove
  it): `\\x1eRIO<token>:<exit code>\\x1f`. The prompt is printed however the line ended, even when Ctrl-C
  aborted it half way, so every line sent yields exactly one marker. The token is random per command and
  the marker's control bytes appear in no variable, so `set`, `env` or `set -x` output cannot fake one.
- stdin of every command is /dev/null. Most programs that would wait for input (`read x`, `input()`,
  `cat`, `apt` prompts, tools that test isatty(stdin)) then see EOF at once and fail or go
  non-interactive immediately, instead of blocking; pipes and heredocs inside the command still work.
  What remains are programs that open /dev/tty themselves (ssh, sudo, gpg, `read < /dev/tty`): those are
  found by looking for a process of the foreground group blocked in read(2) on the tty (/proc/PID/syscall,
  wchan as a fallback), and interrupted with a message within about 1.5 s.
- A reader thread drains the pty all the time, so a chatty background job never blocks on a full pty
  buffer between commands; while a command runs it applies back-pressure instead of growing memory.
- Output is cleaned as it streams (ANSI escapes removed, `\\r` progress lines reduced to their last state),
  only a head and a bounded tail are kept in memory, and everything is streamed to a file under the
  artifacts folder once it is longer than what the model is shown.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import platform
import re
import secrets
import select
import shlex
import shutil
import signal
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pexpect

from rioagent.tools.base import ToolContext, ToolError, ToolResult

log = logging.getLogger(__name__)

MAX_OUTPUT_CHARS = 10_000  # what the model sees of one command's output: head + tail
MAX_SAVED_BYTES = 256 * 1024 * 1024  # the full-output file stops growing here
MAX_TIMEOUT = 3600  # seconds; longer work belongs in the background
INPUT_CHECK_AFTER = 1.0  # seconds before looking for a process blocked on the tty
INPUT_CHECK_EVERY = 0.5
INT_GRACE = 1.0  # after Ctrl-C, how long to wait before killing the foreground job
KILL_GRACE = 1.5  # after SIGKILL, how long to wait before giving up on the shell
START_TIMEOUT = 10.0

# Settings that keep programs from paging, colouring, prompting or buffering.
# ctx.env is applied after these, so a user's config can still override any of them.
SHELL_ENV = {
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "MANPAGER": "cat",
    "SYSTEMD_PAGER": "cat",
    "LESS": "-FRX",
    "TERM": "dumb",
    "NO_COLOR": "1",
    "CLICOLOR": "0",
    "PY_COLORS": "0",
    "CARGO_TERM_COLOR": "never",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_EDITOR": "true",  # `git commit` without -m aborts instead of opening vim on a dumb terminal
    "PYTHONUNBUFFERED": "1",
    "PIP_NO_INPUT": "1",
    "PIP_PROGRESS_BAR": "off",
    "DEBIAN_FRONTEND": "noninteractive",
    "VIRTUAL_ENV_DISABLE_PROMPT": "1",
}
# Inherited variables that would turn colours back on or change how the shell starts.
DROP_ENV = (
    "CLICOLOR_FORCE",
    "FORCE_COLOR",
    "PROMPT_COMMAND",
    "PS1",
    "PS2",
    "PS0",
    "BASH_ENV",
    "ENV",
    "HISTFILE",
)

_MARK = b"\x1eRIO"
# Runs before every prompt: capture $? first (the assignments reset it), keep the prompts empty even if
# something (a venv activate, a sourced rc file) set them, then print the end-of-command marker.
# (Not PS0: assigning it there after an `eval` syntax error corrupts bash 5.2's memory.)
_PROMPT_COMMAND = '__rio_ec=$?;PS1=;PS2=;printf \'\\036RIO%s:%s\\037\' "$__rio_tok" "$__rio_ec"'

# read(2)-family syscall numbers: a process blocked in one of these on the tty is waiting for input.
_READ_SYSCALLS = {
    "x86_64": {0, 17, 19, 295},  # read, pread64, readv, preadv
    "aarch64": {63, 65, 67, 69},  # read, readv, pread64, preadv
}.get(platform.machine(), set())

_ANSI_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erase line
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS/SOS/PM/APC strings
    r"|\x1b[()*+][0-9A-Za-z]"  # charset selection
    r"|\x1b[@-Z\\-_=>78]?"  # two-byte escapes (and a lone ESC)
)
_NEEDS_CLEANING = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # any control byte but \t and \n
_BACKSPACE_RE = re.compile(r"[^\n\x08]\x08")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # what is left after escapes; keeps \r
_CR_LINE_RE = re.compile(r"[^\n]*\r[^\n]*")
_LINE_FLUSH = 64 * 1024  # a partial line longer than this is flushed without waiting for its newline
_MAX_PENDING = 4 * 1024 * 1024  # unread pty output while a command runs: the reader waits beyond this
_IDLE_KEEP = 256 * 1024  # background output kept between commands


@dataclass
class ShellResult:
    output: str  # cleaned, capped output of the command (with an elision line if it was cut)
    exit_code: int | None  # None when the shell had to be restarted and the status is unknown
    timed_out: bool = False
    interrupted: bool = False  # stopped through ShellSession.interrupt()
    restarted: bool = False  # a new shell was started: cwd and env were reset
    full_output_path: Path | None = None  # set when the output was cut; the file holds all of it
    notice: str = ""  # what happened besides the output: timeouts, restarts, input waits
    waited_for_input: bool = False

    def render(self) -> str:
        """The text the model reads: output, then notices, then the exit code line."""
        parts = [self.output.rstrip("\n")] if self.output.strip() else []
        if self.notice:
            parts.append(self.notice)
        code = "unknown" if self.exit_code is None else str(self.exit_code)
        parts.append(f"[exit code: {code}]")
        return "\n".join(parts)


def _last_state(match: re.Match[str]) -> str:
    """A line rewritten with \\r (a progress bar): keep what was written last."""
    segments = match.group().split("\r")
    return next((s for s in reversed(segments) if s), "")


def clean_output(text: str) -> str:
    """Strip ANSI escapes and control bytes; reduce \\r-rewritten lines to their final state."""
    if not _NEEDS_CLEANING.search(text):
        return text
    if "\x1b" in text:
        text = _ANSI_RE.sub("", text)
    while "\x08" in text:
        reduced = _BACKSPACE_RE.sub("", text)
        if reduced == text:
            text = text.replace("\x08", "")
            break
        text = reduced
    text = _CONTROL_RE.sub("", text)
    if "\r" in text:
        text = _CR_LINE_RE.sub(_last_state, text)
    return text


class _Output:
    """Collects one command's output as it streams: cleaned, head + bounded tail in memory, and the
    whole of it in a file once it outgrows what the model is shown."""

    def __init__(
        self, max_chars: int, path_for: Callable[[], Path], on_text: Callable[[str], None] | None = None
    ):
        self.max_chars = max_chars
        self._on_text = on_text
        self.head_chars = max_chars * 2 // 5
        self.tail_chars = max_chars - self.head_chars - 300  # room for the elision line
        self._path_for = path_for
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._buffered: list[str] = []
        self._buffered_len = 0
        self._head = ""
        self._tail = ""
        self._file: BinaryIO | None = None
        self.path: Path | None = None
        self.total_chars = 0
        self.newlines = 0
        self.total_bytes = 0
        self.saved_bytes = 0

    def feed(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if text:
            self._take(text)

    def note(self, text: str) -> None:
        self._emit(text)

    def _take(self, text: str) -> None:
        text = self._partial + text
        cut = text.rfind("\n") + 1
        partial = text[cut:]
        if "\r" in partial:
            # Collapse progress-bar rewrites now so a long-running bar does not pile up in memory;
            # a trailing \r stays, it may be the first half of \r\n.
            trailing = "\r" if partial.endswith("\r") else ""
            partial = _CR_LINE_RE.sub(_last_state, partial.rstrip("\r")) + trailing
        if len(partial) > _LINE_FLUSH:
            cut, partial = len(text), ""
        self._partial = partial
        if cut:
            self._emit(clean_output(text[:cut]))

    def _emit(self, text: str) -> None:
        if not text:
            return
        if self._on_text is not None:
            try:
                self._on_text(text)
            except Exception:  # a front end's display must never break the command
                log.exception("live output callback failed")
                self._on_text = None
        self.total_chars += len(text)
        self.newlines += text.count("\n")
        if self._file is None:
            self._buffered.append(text)
            self._buffered_len += len(text)
            if self._buffered_len > self.max_chars:
                self._spill()
            return
        self._write(text)
        self._tail = (self._tail + text[-self.tail_chars :])[-self.tail_chars :]

    def _spill(self) -> None:
        everything = "".join(self._buffered)
        self._buffered = []
        self._head = everything[: self.head_chars]
        self._tail = everything[-self.tail_chars :]
        self.path = self._path_for()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115 - stays open while the command streams
        self._write(everything)

    def _write(self, text: str) -> None:
        assert self._file is not None
        data = text.encode("utf-8", errors="replace")
        self.total_bytes += len(data)
        room = MAX_SAVED_BYTES - self.saved_bytes
        if room > 0:
            chunk = data[:room]
            self._file.write(chunk)
            self.saved_bytes += len(chunk)

    def finish(self) -> str:
        rest = self._decoder.decode(b"", final=True)
        self._partial += rest
        if self._partial:
            self._emit(clean_output(self._partial.rstrip("\r")))
            self._partial = ""
        if self._file is None:
            return "".join(self._buffered)
        self._file.close()
        head, tail = self._head, self._tail
        newline = head.rfind("\n")
        if newline >= len(head) // 2:
            head = head[: newline + 1]
        newline = tail.find("\n")
        if 0 <= newline < len(tail) // 2:
            tail = tail[newline + 1 :]
        lines = self.newlines + (0 if tail.endswith("\n") else 1)
        elided_lines = max(0, self.newlines - head.count("\n") - tail.count("\n"))
        elided_bytes = (
            self.total_bytes - len(head.encode("utf-8", "replace")) - len(tail.encode("utf-8", "replace"))
        )
        saved = (
            ""
            if self.saved_bytes == self.total_bytes
            else f"; only its first {self.saved_bytes} bytes were saved"
        )
        middle = (
            f"[... {elided_lines} lines / {elided_bytes} bytes elided; the full output ({lines} lines, "
            f"{self.total_bytes} bytes) is saved in {self.path}{saved}: view it, or grep / sed -n it ...]"
        )
        return f"{head}{'' if head.endswith(chr(10)) else chr(10)}{middle}\n{tail}"


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, pgrp, session) for every process we can see."""
    table: dict[int, tuple[int, int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(b")", 1)[-1].split()
        with contextlib.suppress(IndexError, ValueError):
            table[int(name)] = (int(fields[1]), int(fields[2]), int(fields[3]))
    return table


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _default_signals() -> None:
    # Python ignores SIGPIPE and SIGXFSZ and a forked child inherits that: `yes | head` would then end with
    # "Broken pipe" errors instead of a quiet exit, unlike in any terminal.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)


class _Bash:
    """One bash process on a pty, with a thread that keeps draining its output."""

    def __init__(self, cwd: Path, env: dict[str, str], prefix: list[str] | None = None):
        argv = [*(prefix or []), "bash", "--noprofile", "--norc", "--noediting"]
        self.child = pexpect.spawn(
            argv[0],
            argv[1:],
            cwd=str(cwd),
            env=env,
            echo=False,
            encoding=None,
            dimensions=(50, 200),
            preexec_fn=_default_signals,
        )
        self.child.delayafterclose = 0
        self.child.delayafterterminate = 0
        self.child.ptyproc.delayafterclose = 0
        self.child.ptyproc.delayafterterminate = 0
        self.pid: int = self.child.pid
        self.fd: int = self.child.child_fd
        attrs = termios.tcgetattr(self.fd)
        attrs[1] &= ~termios.ONLCR  # plain \n out: a bare \r then only ever comes from the program
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        self.termios = termios.tcgetattr(self.fd)
        try:
            self.tty_path: str | None = os.readlink(f"/proc/{self.pid}/fd/0")
        except OSError:
            self.tty_path = None
        self.cond = threading.Condition()
        self._chunks: list[bytes] = []
        self._size = 0
        self.dropped = 0
        self.eof = False
        self.busy = False
        self._stopping = False
        self._reader = threading.Thread(target=self._read_loop, name=f"bash-pty-{self.pid}", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        while not self._stopping:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                data = os.read(self.fd, 65536) if ready else None
            except (OSError, ValueError):
                data = b""
            if data is None:
                continue
            with self.cond:
                if not data:
                    break
                if self.busy:
                    while self.busy and self._size > _MAX_PENDING and not self._stopping:
                        self.cond.wait(0.1)
                else:
                    while self._chunks and self._size + len(data) > _IDLE_KEEP:
                        dropped = self._chunks.pop(0)
                        self._size -= len(dropped)
                        self.dropped += len(dropped)
                self._chunks.append(data)
                self._size += len(data)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def take(self, timeout: float, stop: Callable[[], bool]) -> tuple[bytes, bool]:
        """Whatever output arrived, waiting up to `timeout` for some; returns (data, reached_eof)."""
        with self.cond:
            if not self._chunks and not self.eof and not stop():
                self.cond.wait(timeout)
            data = b"".join(self._chunks)
            self._chunks.clear()
            self._size = 0
            self.cond.notify_all()
            return data, self.eof and not data

    def unread(self, data: bytes) -> None:
        with self.cond:
            self._chunks.insert(0, data)
            self._size += len(data)

    def send(self, line: str) -> None:
        data = line.encode()
        while data:
            data = data[os.write(self.fd, data) :]

    def alive(self) -> bool:
        try:
            return self.child.isalive()
        except pexpect.ExceptionPexpect:
            return False

    def exit_status(self) -> int | None:
        if self.child.exitstatus is not None:
            return self.child.exitstatus
        if self.child.signalstatus is not None:
            return 128 + self.child.signalstatus
        return None

    def restore_tty(self) -> None:
        # A killed full-screen program can leave the tty raw or echoing: that would garble what follows.
        with contextlib.suppress(termios.error, OSError):
            if termios.tcgetattr(self.fd) != self.termios:
                termios.tcsetattr(self.fd, termios.TCSANOW, self.termios)

    def foreground(self) -> int | None:
        try:
            return os.tcgetpgrp(self.fd)
        except OSError:
            return None

    def signal_foreground(self, sig: int) -> None:
        group = self.foreground()
        with contextlib.suppress(OSError):
            os.killpg(group if group and group > 0 else self.pid, sig)

    def kill_foreground(self) -> None:
        """SIGKILL the foreground job and every descendant of it; the shell itself if it is the job."""
        group = self.foreground()
        if group is None or group == self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            return
        table = _proc_table()
        targets = {pid for pid, (_, pgrp, sid) in table.items() if pgrp == group and sid == self.pid}
        grew = True
        while grew:
            more = {pid for pid, (ppid, _, _) in table.items() if ppid in targets and pid not in targets}
            targets |= more
            grew = bool(more)
        targets.discard(self.pid)
        for pid in targets:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def tty_readers(self) -> set[int]:
        """Processes of the foreground group blocked reading the terminal (they wait for a person)."""
        group = self.foreground()
        if group is None:
            return set()
        table = _proc_table()
        found: set[int] = set()
        for pid, (_, pgrp, sid) in table.items():
            if pgrp != group or sid != self.pid:
                continue
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tasks:
                if self._reads_tty(pid, tid):
                    found.add(pid)
                    break
        return found

    def _reads_tty(self, pid: int, tid: str) -> bool:
        syscall = _read_text(f"/proc/{pid}/task/{tid}/syscall")
        if syscall is not None and syscall != "running" and _READ_SYSCALLS:
            fields = syscall.split()
            try:
                number, fd = int(fields[0]), int(fields[1], 16)
            except (IndexError, ValueError):
                return False
            if number not in _READ_SYSCALLS:
                return False
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                return False
            return target == "/dev/tty" or target == self.tty_path
        # No syscall file (restricted /proc, other architectures): the tty read path's wait channel.
        return _read_text(f"/proc/{pid}/task/{tid}/wchan") == "n_tty_read"

    def close(self) -> None:
        """Kill the shell and everything in its session (background jobs included)."""
        self._stopping = True
        for pid, (_, _, sid) in _proc_table().items():
            if sid == self.pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        with self.cond:
            self.busy = False
            self.cond.notify_all()
        # Close the fd only once the reader is gone: a reused fd number must never be read by it.
        self._reader.join(timeout=2.0)
        with contextlib.suppress(Exception):
            self.child.close(force=True)


class ShellSession:
    """A persistent bash for one agent session. `run` is not reentrant; `interrupt` may be called from
    any thread while `run` blocks."""

    def __init__(
        self,
        cwd: Path,
        env: dict[str, str],
        artifacts_dir: Path,
        max_output_chars: int = MAX_OUTPUT_CHARS,
        prefix: list[str] | None = None,
    ):
        self.cwd = Path(cwd)
        self.prefix = list(prefix or [])  # e.g. a sandbox's argv: bash runs inside it
        self.artifacts_dir = Path(artifacts_dir)
        self.max_output_chars = max_output_chars
        self._env = self._environment(env)
        self._tmp = Path(tempfile.mkdtemp(prefix="rioagent-shell-"))
        self._cmd_file = self._tmp / "command.sh"
        self._cmd_quoted = shlex.quote(str(self._cmd_file))
        self._run_lock = threading.Lock()
        self._interrupt = False
        self._closed = False
        self._count = 0
        self._bash: _Bash | None = None
        self._start()

    @staticmethod
    def _environment(extra: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        for name in DROP_ENV:
            env.pop(name, None)
        env.update(SHELL_ENV)
        if not any(env.get(k) for k in ("LC_ALL", "LC_CTYPE", "LANG")):
            env["LANG"] = "C.UTF-8"
        env.update(extra)
        return env

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def alive(self) -> bool:
        return self._bash is not None and self._bash.alive()

    def _start(self) -> None:
        if shutil.which("bash", path=self._env.get("PATH")) is None:
            raise ToolError("bash was not found on PATH; install bash to use the bash tool")
        if not self.cwd.is_dir():
            raise ToolError(f"the workspace {self.cwd} does not exist")
        bash = _Bash(self.cwd, self._env, self.prefix)
        token = secrets.token_hex(8)
        bash.send(
            f"PS1=; PS2=; unset PS0 HISTFILE; PS4='+ '; set +o history; __rio_tok={token}; "
            f"PROMPT_COMMAND={shlex.quote(_PROMPT_COMMAND)}; readonly PROMPT_COMMAND\n"
        )
        prefix = _MARK + token.encode() + b":"
        seen = b""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            data, eof = bash.take(0.2, lambda: False)
            seen += data
            end = seen.find(b"\x1f", seen.find(prefix)) if prefix in seen else -1
            if end >= 0:
                if seen[end + 1 :]:
                    bash.unread(seen[end + 1 :])
                self._bash = bash
                return
            if eof:
                break
        bash.close()
        raise ToolError(f"bash did not start in {self.cwd}: {seen[-500:].decode(errors='replace')!r}")

    def _restart(self) -> None:
        if self._bash is not None:
            self._bash.close()
        self._bash = None
        if not self._closed:  # close() from another thread while a command ran: stay closed
            self._start()

    def interrupt(self) -> None:
        """Stop the running command (Ctrl-C, then kill): `run` returns with interrupted=True."""
        self._interrupt = True
        bash = self._bash
        if bash is not None:
            with bash.cond:
                bash.cond.notify_all()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bash is not None:
            self._bash.close()
            self._bash = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _output_path(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return self.artifacts_dir / f"bash-output-{stamp}-{self._count:04d}-{secrets.token_hex(3)}.log"

    def run(
        self, command: str, timeout: float, on_output: Callable[[str], None] | None = None
    ) -> ShellResult:
        """Run `command`; `on_output` (optional) sees its cleaned output as it arrives, line by line."""
        if self._closed:
            raise ToolError("the shell session is closed")
        with self._run_lock:
            self._interrupt = False
            self._count += 1
            notices: list[str] = []
            restarted = False
            if self._bash is None or not self._bash.alive():
                status = self._bash.exit_status() if self._bash is not None else None
                self._restart()
                restarted = True
                notices.append(self._restart_notice(f"the previous shell had exited (status {status})"))
            bash = self._bash
            assert bash is not None
            out = _Output(self.max_output_chars, self._output_path, on_output)
            if bash.dropped:
                out.note(f"[... {bash.dropped} bytes of earlier background-job output were dropped ...]\n")
                bash.dropped = 0
            bash.restore_tty()
            text = command.replace("\r\n", "\n").replace("\0", "")
            self._cmd_file.write_bytes(text.encode("utf-8", errors="replace"))
            token = secrets.token_hex(8)
            with bash.cond:
                bash.busy = True
            try:
                bash.send(
                    f"set +e; __rio_tok={token}; IFS= read -r -d '' __rio_cmd < {self._cmd_quoted}; "
                    'eval -- "$__rio_cmd" < /dev/null\n'
                )
                result = self._wait(bash, token, out, timeout)
            finally:
                with bash.cond:
                    bash.busy = False
                    bash.cond.notify_all()
            result.output = out.finish()
            result.full_output_path = out.path
            result.restarted = result.restarted or restarted
            result.notice = "\n".join(notices + ([result.notice] if result.notice else []))
            return result

    def _restart_notice(self, why: str) -> str:
        return (
            f"[{why}; a new shell was started in {self.cwd}: the working directory, environment variables, "
            "activated virtualenvs and background jobs of the old shell are gone]"
        )

    def _wait(self, bash: _Bash, token: str, out: _Output, timeout: float) -> ShellResult:
        prefix = _MARK + token.encode() + b":"
        keep = len(prefix) - 1
        carry = b""
        start = time.monotonic()
        deadline = start + timeout
        next_alive = start + 0.2
        next_input = start + INPUT_CHECK_AFTER
        last_readers: set[int] = set()
        reason: str | None = None  # "timeout" | "interrupt" | "input"
        phase_deadline = 0.0
        killed = False
        shell_reader = False  # the shell itself sat reading the tty: a builtin `read`, or a lost prompt
        stop = lambda: self._interrupt and reason is None  # noqa: E731
        while True:
            now = time.monotonic()
            wait = min(0.2, max(0.0, (deadline if reason is None else phase_deadline) - now))
            data, eof = bash.take(wait, stop)
            if data:
                data = carry + data
                at = data.find(prefix)
                if at >= 0:
                    end = data.find(b"\x1f", at)
                    out.feed(data[:at])
                    if end >= 0:
                        if data[end + 1 :]:
                            bash.unread(data[end + 1 :])
                        code = int(data[at + len(prefix) : end] or b"-1")
                        return self._finished(code, reason, killed, time.monotonic() - start, timeout)
                    carry = data[at:]
                else:
                    # Hold back only what could be the start of a marker, so output that merely ends
                    # short (a line, then a sleep) reaches the live view now, not with the next chunk.
                    held = data.rfind(prefix[:1], max(0, len(data) - keep))
                    cut = held if held >= 0 else len(data)
                    out.feed(data[:cut])
                    carry = data[cut:]
            now = time.monotonic()
            if eof or (now >= next_alive and not bash.alive()):
                return self._died(bash, out, carry, _lost(reason, shell_reader), timeout)
            if now >= next_alive:
                next_alive = now + 0.2
            if reason is None:
                if self._interrupt:
                    reason = "interrupt"
                elif now >= deadline:
                    reason = "timeout"
                elif now >= next_input:
                    next_input = now + INPUT_CHECK_EVERY
                    readers = bash.tty_readers()
                    # Twice in a row: one sighting could be the shell back at its prompt with the marker
                    # still in flight.
                    if readers and readers & last_readers:
                        reason = "input"
                        shell_reader = readers == {bash.pid}
                    last_readers = readers
                if reason is not None:
                    bash.signal_foreground(signal.SIGINT)
                    phase_deadline = now + INT_GRACE
            elif now >= phase_deadline:
                if not killed:
                    killed = True
                    bash.kill_foreground()
                    phase_deadline = now + KILL_GRACE
                else:
                    out.feed(carry)
                    self._restart()
                    result = ShellResult("", None, restarted=True)
                    self._describe(
                        result, _lost(reason, shell_reader), killed, time.monotonic() - start, timeout
                    )
                    result.notice += "\n" + self._restart_notice("the shell did not come back after that")
                    return result

    def _finished(
        self, code: int, reason: str | None, killed: bool, elapsed: float, timeout: float
    ) -> ShellResult:
        result = ShellResult("", code)
        self._describe(result, reason, killed, elapsed, timeout)
        return result

    def _died(
        self, bash: _Bash, out: _Output, carry: bytes, reason: str | None, timeout: float
    ) -> ShellResult:
        out.feed(carry)
        # EOF with the shell still up means it closed its terminal (`exec >&-`): it is no use either way.
        for _ in range(10):
            if not bash.alive():
                break
            time.sleep(0.05)
        status = bash.exit_status()
        self._restart()
        # After a lost prompt the status is only that of our own SIGKILL: it says nothing of the command.
        result = ShellResult("", None if reason == "lost" else status, restarted=True)
        self._describe(result, reason, True, 0.0, timeout)
        why = f"the shell exited (status {status})"
        if reason is None:
            why += " - `exit`, `exec`, or a failure under `set -e` ends it"
        result.notice = "\n".join(filter(None, [result.notice, self._restart_notice(why)]))
        return result

    @staticmethod
    def _describe(
        result: ShellResult, reason: str | None, killed: bool, elapsed: float, timeout: float
    ) -> None:
        how = "killed (it did not stop on Ctrl-C)" if killed else "interrupted with Ctrl-C"
        if reason == "timeout":
            result.timed_out = True
            result.notice = (
                f"[the command timed out after {timeout:g} s and was {how}; the output above is partial. "
                "Give a longer timeout, or run it in the background (`cmd > log.txt 2>&1 &`) "
                "and check the log]"
            )
        elif reason == "interrupt":
            result.interrupted = True
            result.notice = f"[the command was stopped by the user: {how}]"
        elif reason == "lost":
            result.notice = (
                "[the shell stopped answering: it sat at its prompt without finishing the command "
                "(was its output redirected with `exec >file`, or the shell replaced?)]"
            )
        elif reason == "input":
            result.waited_for_input = True
            result.notice = (
                f"[the command was waiting for input from the terminal and was {how} after {elapsed:.1f} s; "
                "run it non-interactively: pipe the input in (`printf 'y\\n' | cmd`), or use flags such as "
                "-y / --yes / --no-input / --batch]"
            )


def _lost(reason: str | None, shell_reader: bool) -> str | None:
    # The shell read the tty and Ctrl-C brought no marker: it was at a prompt that will never print one.
    return "lost" if reason == "input" and shell_reader else reason


def run_bash(ctx: ToolContext, command: str, timeout: int | None = None) -> ToolResult:
    """The `bash` tool's handler: run `command` in the session's persistent shell."""
    if not isinstance(command, str) or not command.strip():
        raise ToolError("command is empty: give the shell command to run")
    limit: Any = ctx.command_timeout if timeout is None else timeout
    try:
        seconds = float(limit)
    except (TypeError, ValueError):
        raise ToolError(f"timeout must be a number of seconds, not {timeout!r}") from None
    if not 0 < seconds <= MAX_TIMEOUT:
        raise ToolError(
            f"timeout must be between 1 and {MAX_TIMEOUT} seconds; run longer work in the background "
            "(`cmd > log.txt 2>&1 &`) and check on it"
        )
    shell = ctx.state.get("shell")
    if not isinstance(shell, ShellSession) or shell.closed:
        shell = ShellSession(ctx.workspace, ctx.env, ctx.artifacts_dir, prefix=ctx.shell_prefix)
        ctx.state["shell"] = shell
    result = shell.run(command, seconds, on_output=ctx.on_output)
    return ToolResult(
        result.render(),
        is_error=result.exit_code != 0,
        data={
            "exit_code": result.exit_code,
            "timed_out": result.timed_out,
            "interrupted": result.interrupted,
            "restarted": result.restarted,
            "waited_for_input": result.waited_for_input,
            "full_output_path": str(result.full_output_path) if result.full_output_path else None,
        },
    )
