"""The `rioagent` command as users run it: a real subprocess, real config files, real sockets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rioagent.events import AssistantMessage, Finished, SessionStarted, StepStarted, ToolFinished, ToolStarted
from rioagent.session import SessionLog

ROOT = Path(__file__).resolve().parents[1]


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIOAGENT_")}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PYTHONPATH=str(ROOT),
        NO_COLOR="1",
    )
    return env


def rioagent(
    tmp_path: Path, *args: str, timeout: float = 30, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rioagent", *args],
        env=cli_env(tmp_path),
        cwd=cwd or tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_import_stays_light() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import rioagent.cli; dt = time.perf_counter() - t; "
        "heavy = [m for m in ('torch', 'transformers', 'textual', 'httpx', 'rioagent.agent') "
        "if m in sys.modules]; "
        "print(heavy, dt)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == "[]", out
    assert float(out[1]) < 0.3


def test_help_version_and_no_command(tmp_path: Path) -> None:
    result = rioagent(tmp_path, "--help")
    assert result.returncode == 0 and "run" in result.stdout and "sessions" in result.stdout
    assert "Exit codes" in result.stdout
    run_help = rioagent(tmp_path, "run", "--help")
    assert run_help.returncode == 0
    for flag in (
        "--output-format",
        "--resume",
        "--batch",
        "--workers",
        "--endpoint",
        "--think",
        "--max-seconds",
    ):
        assert flag in run_help.stdout
    version = rioagent(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("rioagent 0.")
    bare = rioagent(tmp_path)
    assert bare.returncode == 0 and "usage: rioagent" in bare.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "x", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "x", "--approval", "maybe"], "invalid choice: 'maybe'"),
        (["run", "x", "--output-format", "xml"], "invalid choice: 'xml'"),
        (["run", "x", "--max-steps", "0"], "must be 1 or more"),
        (["run"], "run needs a TASK"),
        (["run", "x", "--batch", "f.jsonl"], "give no TASK"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["sessions"], "required"),
        (["run", "x", "--resume", "nope"], "no session 'nope'"),
        (["run", "--batch", "missing.jsonl"], "cannot read it"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = rioagent(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert "rioagent: error:" in result.stderr and message in result.stderr


def test_missing_repo_exits_2(tmp_path: Path) -> None:
    result = rioagent(tmp_path, "run", "task", "--repo", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "no such folder" in result.stderr and "nope" in result.stderr


def test_config_error_names_file_and_key(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".rioagent.toml").write_text('max_steps = "many"\n')
    result = rioagent(tmp_path, "run", "task", "--repo", str(repo))
    assert result.returncode == 2
    assert str(repo / ".rioagent.toml") in result.stderr and "max_steps" in result.stderr
    assert "expected a number" in result.stderr
    (repo / ".rioagent.toml").write_text('approval = "yolo"\n')
    result = rioagent(tmp_path, "run", "task", "--repo", str(repo))
    assert result.returncode == 2 and "approval" in result.stderr and "auto-edit" in result.stderr


def test_unreachable_endpoint_exits_3_fast(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    start = time.monotonic()
    result = rioagent(
        tmp_path,
        "run",
        "hi",
        "--repo",
        str(tmp_path / "repo"),
        "--endpoint",
        f"http://127.0.0.1:{closed_port()}/v1",
        "--model",
        "qwen3.5-test",
    )
    assert result.returncode == 3, result.stderr
    assert time.monotonic() - start < 10
    assert "rioagent: error: cannot reach" in result.stderr and "connection refused" in result.stderr


def test_wrong_model_name_exits_2_listing_served_models(tmp_path: Path, fake_server) -> None:
    server = fake_server([{"content": "never sent"}], models=["qwen3.5-test", "rio-3.5"])
    (tmp_path / "repo").mkdir()
    result = rioagent(
        tmp_path, "run", "hi", "--repo", str(tmp_path), "--endpoint", server.base_url, "--model", "qwen-typo"
    )
    assert result.returncode == 2, result.stderr
    assert "'qwen-typo' is not served" in result.stderr and "qwen3.5-test, rio-3.5" in result.stderr


def write_session(sid: str, task: str, ts: float) -> None:
    with SessionLog(sid) as log:
        log.append(
            SessionStarted(
                session_id=sid, task=task, workspace="/src/proj", model="qwen", backend="endpoint", ts=ts
            )
        )
        log.append(StepStarted(step=1, ts=ts))
        log.append(
            AssistantMessage(
                step=1,
                content="Let me look.\n<tool_call>\n<function=bash>\n"
                "<parameter=command>\nls\n</parameter>\n</function>\n</tool_call>",
                reasoning="I should list the files",
                tool_calls=[],
                usage={},
                ts=ts,
            )
        )
        log.append(ToolStarted(step=1, call_id="c1", name="bash", arguments={"command": "ls"}, ts=ts))
        log.append(ToolFinished(step=1, call_id="c1", name="bash", output="a.py\nb.py\n", ts=ts))
        log.append(
            Finished(
                status="done",
                reason="",
                summary="Listed the files.",
                patch="",
                steps=1,
                usage={"total_tokens": 42},
                seconds=1.5,
                session_id=sid,
                ts=ts,
            )
        )


def test_sessions_list_and_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = rioagent(tmp_path, "sessions", "list")
    assert empty.returncode == 0 and "no sessions yet" in empty.stdout
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # where the CLI below will look
    write_session("20261124-091530-ab12cd", "list the files", 1.0e9)
    write_session("20261125-080000-ffffff", "a later task", 1.1e9)

    listing = rioagent(tmp_path, "sessions", "list")
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert lines[0].startswith("20261125-080000-ffffff") and lines[1].startswith("20261124-091530-ab12cd")
    assert "done" in lines[1] and "list the files" in lines[1] and "/src/proj" in lines[1]

    show = rioagent(tmp_path, "sessions", "show", "20261124")  # a unique prefix
    assert show.returncode == 0, show.stderr
    text = show.stdout
    assert "session 20261124-091530-ab12cd" in text and "task: list the files" in text
    assert "── step 1 ──" in text and "Let me look." in text and "<tool_call>" not in text
    assert "→ bash ls" in text and "a.py" in text and "Listed the files." in text

    raw = rioagent(tmp_path, "sessions", "show", "20261124-091530-ab12cd", "--json")
    events = [json.loads(line) for line in raw.stdout.splitlines()]
    assert events[0]["type"] == "session_started" and events[-1]["type"] == "result"

    unknown = rioagent(tmp_path, "sessions", "show", "20261124-091530-ab12ce")
    assert unknown.returncode == 2
    assert "no session '20261124-091530-ab12ce'" in unknown.stderr
    assert "close matches: 20261124-091530-ab12cd" in unknown.stderr
    ambiguous = rioagent(tmp_path, "sessions", "show", "2026112")
    assert ambiguous.returncode == 2 and "ambiguous" in ambiguous.stderr
