"""`rioagent` in a real terminal: tmux runs the CLI against the scripted OpenAI-compatible server (a
subprocess on loopback); keys go in with send-keys and the screen is read back with capture-pane."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_headless import MODEL, Server, call, env_for, make_repo, serve  # noqa: F401 (serve: a fixture)

TMUX = shutil.which("tmux")
PASSED_ENV = ("HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "PYTHONPATH", "PATH")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


class Terminal:
    def __init__(self, socket: str, session: str):
        self.socket, self.session = socket, session

    def tmux(self, *args: str) -> str:
        cmd = [str(TMUX), "-L", self.socket, *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen:\n{screen}")
            time.sleep(0.1)

    def alive(self) -> bool:
        result = subprocess.run([str(TMUX), "-L", self.socket, "has-session", "-t", self.session],
                                capture_output=True)  # fmt: skip
        return result.returncode == 0


def test_rioagent_in_tmux(tmp_path: Path, serve: Callable[..., Server]) -> None:  # noqa: F811
    repo = make_repo(tmp_path / "repo")
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    edit = {"path": "calc.py", "old_str": "return a - b", "new_str": "return a + b"}
    server = serve([
        call("add() subtracts.", "str_replace", **edit),
        call("Done.", "finish", summary="Fixed add() in calc.py."),
    ])  # fmt: skip
    env = env_for(tmp_path)
    command = " ".join(
        [
            "env",
            *(shlex.quote(f"{k}={v}") for k, v in env.items() if k in PASSED_ENV),
            "TERM=xterm-256color",
            shlex.quote(sys.executable), "-m", "rioagent",
            "--endpoint", shlex.quote(server.base_url), "--model", MODEL,
            "; echo rioagent-exited-$?; sleep 30",
        ]
    )  # fmt: skip
    term = Terminal(f"rioagent-test-{tmp_path.name}", "tui")
    term.tmux("new-session", "-d", "-s", "tui", "-x", "100", "-y", "30", "-c", str(repo), command)
    try:
        term.wait_for("● ready")
        screen = term.screen()
        assert MODEL in screen and "ask" in screen  # the status bar: the model, the approval mode

        term.keys("-l", "fix add")
        term.keys("Enter")
        screen = term.wait_for("Allow str_replace?")
        assert "-    return a - b" in screen and "+    return a + b" in screen  # the modal shows the diff
        term.keys("y")
        screen = term.wait_for("done ·")
        assert "Fixed add() in calc.py." in screen and "str_replace" in screen
        assert (repo / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"

        term.keys("C-c")
        term.keys("C-c")
        term.wait_for("rioagent-exited-0", timeout=15)
    finally:
        if term.alive():
            term.tmux("kill-server")
    sessions = list((tmp_path / "state" / "rioagent" / "sessions").glob("*.jsonl"))
    assert len(sessions) == 1 and "Fixed add()" in sessions[0].read_text()
