"""`rioagent run` end to end: the real CLI in a subprocess, against the scripted OpenAI-compatible server
(also a subprocess) answering like Qwen3.5 behind llama.cpp: thought in reasoning_content, XML tool calls
in content. Real bash, real files, real git repositories in tmp dirs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai_server import qwen_tool_call

ROOT = Path(__file__).resolve().parents[1]
MODEL = "qwen3.5-test"

BUGGY = (
    "def add(a, b):\n    return a - b\n\n\n"
    'assert add(2, 3) == 5, "add(2, 3) should be 5"\nprint("all tests passed")\n'
)


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIOAGENT_")}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PYTHONPATH=str(ROOT),
    )
    return env


def rioagent(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rioagent", *args],
        env=env_for(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class Server:
    def __init__(self, proc: subprocess.Popen, base_url: str, requests_file: Path):
        self.proc, self.base_url, self.requests_file = proc, base_url, requests_file

    def requests(self) -> list[dict[str, Any]]:
        if not self.requests_file.exists():
            return []
        return [json.loads(line) for line in self.requests_file.read_text().splitlines()]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: start `python -m tests.fake_openai_server` with a script; all are stopped afterwards."""
    started: list[subprocess.Popen] = []

    def start(replies: list[dict[str, Any]], name: str = "server") -> Server:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "script.json").write_text(json.dumps(replies))
        port_file, requests_file = folder / "port", folder / "requests.jsonl"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fake_openai_server",
                "--script",
                str(folder / "script.json"),
                "--port-file",
                str(port_file),
                "--requests-file",
                str(requests_file),
            ],
            env=env_for(tmp_path),
            cwd=ROOT,
        )
        started.append(proc)
        deadline = time.monotonic() + 15
        while not port_file.exists():
            assert proc.poll() is None, "the fake server exited before listening"
            assert time.monotonic() < deadline, "the fake server did not start"
            time.sleep(0.02)
        return Server(proc, f"http://127.0.0.1:{port_file.read_text()}/v1", requests_file)

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "README.md").write_text("demo\n")
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return path


def call(reasoning: str, name: str, **params: Any) -> dict[str, str]:
    return {"reasoning": reasoning, "content": qwen_tool_call(name, **params)}


FIX_SCRIPT = [
    call("I'll write the test script first.", "create", path="test_add.py", content=BUGGY),
    call("Run it to see it fail.", "bash", command="python test_add.py"),
    call(
        "add subtracts; make it add.",
        "str_replace",
        path="test_add.py",
        old_str="return a - b",
        new_str="return a + b",
    ),
    call("Run it again.", "bash", command="python test_add.py"),
    call("It passes now.", "finish", summary="Fixed add() in test_add.py; the test passes."),
]


def endpoint_args(server: Server) -> list[str]:
    return ["--endpoint", server.base_url, "--model", MODEL]


def stream(result: subprocess.CompletedProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_fix_a_failing_test_end_to_end_then_resume(tmp_path: Path, serve: Callable[..., Server]) -> None:
    repo = make_repo(tmp_path / "repo")
    server = serve(FIX_SCRIPT)
    result = rioagent(
        tmp_path,
        "run",
        "Make test_add.py pass",
        "--repo",
        str(repo),
        "--output-format",
        "stream-json",
        *endpoint_args(server),
    )
    assert result.returncode == 0, result.stderr
    events = stream(result)

    first, last = events[0], events[-1]
    assert first["type"] == "session_started" and first["task"] == "Make test_add.py pass"
    sid = first["session_id"]
    assert first["workspace"] == str(repo.resolve()) and first["resumed"] is False
    assert not any(e["type"] in ("reasoning_delta", "content_delta") for e in events)

    tools = [(e["name"], e["output"]) for e in events if e["type"] == "tool_finished"]
    assert [name for name, _ in tools] == ["create", "bash", "str_replace", "bash", "finish"][: len(tools)]
    assert "AssertionError" in tools[1][1] and "add(2, 3) should be 5" in tools[1][1]
    assert "all tests passed" in tools[3][1]
    steps = [e["step"] for e in events if e["type"] == "step_started"]
    assert steps == [1, 2, 3, 4, 5]
    # Within a step: the step header, the model's turn, then its tool call.
    order = [e["type"] for e in events if e["type"] in ("step_started", "assistant_message", "tool_started")]
    assert order[:3] == ["step_started", "assistant_message", "tool_started"]
    thought = next(e for e in events if e["type"] == "assistant_message")
    assert thought["reasoning"].startswith("I'll write the test script first.")

    assert last["type"] == "result" and last["status"] == "done" and last["session_id"] == sid
    assert "Fixed add()" in last["summary"]
    assert "test_add.py" in last["patch"] and "+    return a + b" in last["patch"]
    assert last["steps"] == 5 and last["seconds"] > 0
    assert last["usage"]["prompt_tokens"] > 0 and last["usage"]["completion_tokens"] > 0

    assert "return a + b" in (repo / "test_add.py").read_text()
    assert len(server.requests()) == 5

    session_file = tmp_path / "state" / "rioagent" / "sessions" / f"{sid}.jsonl"
    logged = [json.loads(line) for line in session_file.read_text().splitlines()]
    assert [e["type"] for e in logged] == [e["type"] for e in events]

    shown = rioagent(tmp_path, "sessions", "show", sid[:18])
    assert shown.returncode == 0, shown.stderr
    assert f"session {sid}" in shown.stdout and "→ bash python test_add.py" in shown.stdout
    assert "AssertionError" in shown.stdout and "Fixed add() in test_add.py" in shown.stdout
    listing = rioagent(tmp_path, "sessions", "list")
    assert listing.stdout.startswith(sid) and "done" in listing.stdout

    # Resume: a new server, a short script; the same session file grows and the model sees the history.
    again = serve(
        [
            call("Check the file once more.", "bash", command="grep -c 'a + b' test_add.py"),
            call("Still fixed.", "finish", summary="Confirmed the fix is in place."),
        ],
        name="server2",
    )
    resumed = rioagent(
        tmp_path,
        "run",
        "Double-check the fix",
        "--resume",
        sid,
        "--output-format",
        "stream-json",
        *endpoint_args(again),
    )
    assert resumed.returncode == 0, resumed.stderr
    more = stream(resumed)
    assert (
        more[0]["type"] == "session_started" and more[0]["session_id"] == sid and more[0]["resumed"] is True
    )
    assert more[0]["workspace"] == str(repo.resolve())  # taken from the session, no --repo given
    assert more[-1]["status"] == "done" and more[-1]["session_id"] == sid
    assert any(e["type"] == "tool_finished" and e["output"].strip().startswith("1") for e in more)
    prompt = json.dumps(again.requests()[0]["messages"])
    assert "Make test_add.py pass" in prompt and "Double-check the fix" in prompt
    logged = [json.loads(line) for line in session_file.read_text().splitlines()]
    assert len(logged) == len(events) + len(more)
    assert [e["type"] for e in logged].count("session_started") == 2


def test_json_output_is_one_object(tmp_path: Path, serve: Callable[..., Server]) -> None:
    repo = make_repo(tmp_path / "repo")
    server = serve([call("Nothing to do.", "finish", summary="Nothing needed.")])
    result = rioagent(
        tmp_path, "run", "say hi", "--repo", str(repo), "--output-format", "json", *endpoint_args(server)
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["type"] == "result" and obj["status"] == "done" and obj["summary"] == "Nothing needed."
    assert obj["session_id"] and obj["steps"] == 1


def test_text_output_reads_like_a_log(tmp_path: Path, serve: Callable[..., Server]) -> None:
    repo = make_repo(tmp_path / "repo")
    server = serve(
        [
            call("Look around.", "bash", command="ls"),
            call("Done.", "finish", summary="Listed the repository."),
        ]
    )
    result = rioagent(tmp_path, "run", "list files", "--repo", str(repo), *endpoint_args(server))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("session ") and "── step 1 ──" in out and "── step 2 ──" in out
    assert "→ bash ls" in out and "README.md" in out
    assert "══ done after 2 steps" in out and "Listed the repository." in out
    assert "<tool_call>" not in out


def test_step_limit_exits_1(tmp_path: Path, serve: Callable[..., Server]) -> None:
    repo = make_repo(tmp_path / "repo")
    server = serve([call(f"Step {i}.", "bash", command=f"echo {i}") for i in range(5)])
    result = rioagent(
        tmp_path,
        "run",
        "loop",
        "--repo",
        str(repo),
        "--max-steps",
        "2",
        "--output-format",
        "stream-json",
        *endpoint_args(server),
    )
    assert result.returncode == 1, result.stderr
    last = stream(result)[-1]
    assert last["type"] == "result" and last["status"] == "limit" and last["steps"] == 2


def test_batch_two_repos_two_workers(tmp_path: Path, serve: Callable[..., Server]) -> None:
    # Each repo's own .rioagent.toml points it at its own server, so each script stays in order.
    repos = []
    for name in ("alpha", "beta"):
        repo = make_repo(tmp_path / name)
        server = serve(
            [
                {**call("Write it.", "create", path=f"{name}.txt", content=name), "chunk_delay": 0.01},
                call("Done.", "finish", summary=f"wrote {name}.txt"),
                call("Already done.", "finish", summary="again"),  # for the json run below
            ],
            name=f"server-{name}",
        )
        (repo / ".rioagent.toml").write_text(
            f'profile = "fake"\n[models.fake]\nbackend = "endpoint"\nbase_url = "{server.base_url}"\n'
            f'model = "{MODEL}"\n'
        )
        repos.append(repo)
    batch = tmp_path / "tasks.jsonl"
    batch.write_text(
        "".join(json.dumps({"repo": r.name, "task": f"write {r.name}.txt"}) + "\n" for r in repos)
    )

    result = rioagent(
        tmp_path, "run", "--batch", str(batch), "--workers", "2", "--output-format", "stream-json"
    )
    assert result.returncode == 0, result.stderr
    events = stream(result)
    results = [e for e in events if e["type"] == "result"]
    assert sorted(r["repo"] for r in results) == sorted(str(r.resolve()) for r in repos)
    assert all(r["status"] == "done" for r in results)
    assert len({r["session_id"] for r in results}) == 2
    # Every line says which session it belongs to; both ran at once (both started before either ended).
    assert all(e["session_id"] for e in events)
    kinds = [e["type"] for e in events]
    assert kinds.index("result") > max(i for i, k in enumerate(kinds) if k == "session_started")
    for repo in repos:
        assert (repo / f"{repo.name}.txt").read_text() == repo.name

    # json: one result line per task, naming its repo and session.
    again = rioagent(tmp_path, "run", "--batch", str(batch), "--workers", "2", "--output-format", "json")
    assert again.returncode == 0, again.stderr
    lines = stream(again)
    assert len(lines) == 2 and all(r["type"] == "result" and r["summary"] == "again" for r in lines)
    assert sorted(r["repo"] for r in lines) == sorted(str(r.resolve()) for r in repos)
    assert all(r["session_id"] for r in lines)

    # The scripts are used up now: every task fails, so the batch exits 1 (text: one line per task).
    failed = rioagent(tmp_path, "run", "--batch", str(batch), "--workers", "2")
    assert failed.returncode == 1
    rows = failed.stdout.splitlines()
    assert len(rows) == 2 and all(row.startswith("error") for row in rows)
    assert "script exhausted" in failed.stderr

    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"repo": "alpha", "task": "ok"}\nnot json\n{"repo": "missing", "task": "x"}\n{"repo": "beta"}\n'
    )
    rejected = rioagent(tmp_path, "run", "--batch", str(bad))
    assert rejected.returncode == 2
    err = rejected.stderr
    assert "3 bad line(s)" in err and "line 2: not valid JSON" in err
    assert "line 3: repo missing is not an existing folder" in err and 'line 4: "task"' in err


def test_ask_without_a_terminal_denies(tmp_path: Path, serve: Callable[..., Server]) -> None:
    repo = make_repo(tmp_path / "repo")
    server = serve(
        [
            call("Make a file.", "bash", command="touch made.txt"),
            call("Denied; stop.", "finish", summary="Could not run commands."),
        ]
    )
    result = rioagent(
        tmp_path,
        "run",
        "touch a file",
        "--repo",
        str(repo),
        "--approval",
        "ask",
        "--output-format",
        "stream-json",
        *endpoint_args(server),
    )
    assert result.returncode == 0, result.stderr
    events = stream(result)
    resolved = next(e for e in events if e["type"] == "approval_resolved")
    assert resolved["allowed"] is False and "no one to approve" in resolved["note"]
    assert not (repo / "made.txt").exists()


def test_ctrl_c_interrupts_writes_the_result_and_exits_130(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    repo = make_repo(tmp_path / "repo")
    server = serve([call("Wait a long time.", "bash", command="sleep 30")])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rioagent",
            "run",
            "wait",
            "--repo",
            str(repo),
            "--output-format",
            "stream-json",
            *endpoint_args(server),
        ],
        env=env_for(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # wait until the command is running
        lines.append(json.loads(line))
        if lines[-1]["type"] == "tool_started":
            break
    time.sleep(0.3)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert time.monotonic() - start < 10
    lines += [json.loads(line) for line in out.splitlines()]
    assert lines[-1]["type"] == "result" and lines[-1]["status"] == "interrupted"
    sid = lines[0]["session_id"]
    logged = (tmp_path / "state" / "rioagent" / "sessions" / f"{sid}.jsonl").read_text().splitlines()
    assert json.loads(logged[-1])["status"] == "interrupted"


def test_ask_on_a_terminal_prompts_y_n(tmp_path: Path, serve: Callable[..., Server]) -> None:
    import pexpect

    repo = make_repo(tmp_path / "repo")
    server = serve(
        [
            call("Make a file.", "bash", command="touch made.txt"),
            call("Done.", "finish", summary="Made it."),
        ]
    )
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "rioagent",
            "run",
            "touch a file",
            "--repo",
            str(repo),
            "--approval",
            "ask",
            *endpoint_args(server),
        ],
        env=env_for(tmp_path),
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=30,
    )
    child.expect(r"touch made\.txt")
    child.expect(r"Allow\? \[y/N\] ")
    child.sendline("y")
    child.expect("══ done after 2 steps")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert (repo / "made.txt").exists()
