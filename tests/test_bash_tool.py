"""The bash tool against a real bash on a real pty."""

from __future__ import annotations

import os
import signal
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rioagent.messages import ToolCall
from rioagent.tools.base import ToolContext, ToolError, ToolRegistry, ToolResult, load_specs
from rioagent.tools.bash import MAX_OUTPUT_CHARS, ShellSession, clean_output, run_bash


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def shell(workspace: Path, tmp_path: Path) -> Iterator[ShellSession]:
    session = ShellSession(workspace, {"RIO_TEST_VAR": "from-ctx"}, tmp_path / "artifacts")
    yield session
    session.close()


def test_exit_codes_and_output(shell: ShellSession) -> None:
    ok = shell.run("echo hello", 10)
    assert (ok.output, ok.exit_code) == ("hello\n", 0)
    assert ok.render() == "hello\n[exit code: 0]"
    failed = shell.run("echo oops >&2; (exit 42)", 10)
    assert failed.exit_code == 42
    assert failed.render().splitlines() == ["oops", "[exit code: 42]"]
    assert shell.run("false", 10).exit_code == 1
    assert shell.run("printf 'no newline'", 10).output == "no newline"


def test_cwd_env_and_settings_persist(shell: ShellSession, workspace: Path) -> None:
    assert shell.run("pwd", 10).output.strip() == str(workspace)
    (workspace / "sub").mkdir()
    shell.run("cd sub && export FOO=bar && greet() { echo hi $1; }", 10)
    result = shell.run('pwd; echo "$FOO"; greet you; echo "$RIO_TEST_VAR $PAGER $TERM $NO_COLOR"', 10)
    assert result.output.splitlines() == [str(workspace / "sub"), "bar", "hi you", "from-ctx cat dumb 1"]


def test_virtualenv_activation_persists(shell: ShellSession, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = shell.run(f"{sys.executable} -m venv --without-pip {venv}", 60)
    assert made.exit_code == 0, made.render()
    assert shell.run(f"source {venv}/bin/activate", 10).exit_code == 0
    which = shell.run("which python; echo $VIRTUAL_ENV", 10)
    assert which.output.splitlines() == [f"{venv}/bin/python", str(venv)]
    assert "(venv)" not in shell.run("echo x", 10).output  # the activate script's prompt never leaks in


def test_multiline_heredoc_and_syntax_errors(shell: ShellSession) -> None:
    script = "for i in 1 2; do\n  echo line $i\ndone\ncat <<'EOF'\n$HOME stays literal\nEOF\necho last"
    assert shell.run(script, 10).output.splitlines() == ["line 1", "line 2", "$HOME stays literal", "last"]
    assert shell.run("echo a \\\n  b", 10).output == "a b\n"
    # An unclosed quote is a syntax error, not a shell stuck waiting for the rest of the line.
    broken = shell.run('echo "unclosed', 10)
    assert broken.exit_code == 2 and "unexpected EOF" in broken.output
    assert shell.run("if true; then", 10).exit_code == 2
    after = shell.run("X=1 echo clean", 10)
    assert (after.output, after.exit_code) == ("clean\n", 0)


def test_marker_lookalikes_do_not_confuse_it(shell: ShellSession) -> None:
    fake = shell.run(r"printf '\036RIO0123456789abcdef:0\037 and more\n'; set | grep -c __rio", 10)
    assert fake.exit_code == 0
    assert fake.output.startswith("RIO0123456789abcdef:0 and more\n")
    assert shell.run("(exit 3)", 10).exit_code == 3
    # Tracing shows the wrapper's commands but must not end the command early.
    traced = shell.run("set -x; echo traced; set +x", 10)
    assert "traced" in traced.output and traced.exit_code == 0


def test_set_e_does_not_kill_later_commands(shell: ShellSession, workspace: Path) -> None:
    shell.run(f"cd {workspace}; set -e; echo on", 10)
    later = shell.run("false; echo still here", 10)
    assert later.output == "still here\n" and not later.restarted
    dying = shell.run("cd /; set -e; false; echo never", 10)
    assert dying.restarted and dying.exit_code == 1
    assert "shell exited" in dying.notice and "set -e" in dying.notice
    assert "never" not in dying.output
    assert shell.run("pwd", 10).output.strip() == str(workspace)


def test_exit_restarts_the_shell_with_a_notice(shell: ShellSession, workspace: Path) -> None:
    shell.run("cd / && export GONE=1", 10)
    result = shell.run("echo bye; exit 3", 10)
    assert result.restarted and result.exit_code == 3
    assert "bye" in result.output
    assert f"a new shell was started in {workspace}" in result.notice
    assert result.render().endswith("[exit code: 3]")
    after = shell.run('pwd; echo "[$GONE]"', 10)
    assert after.output.splitlines() == [str(workspace), "[]"] and not after.restarted
    assert shell.alive


def test_shell_killed_between_calls_is_restarted(shell: ShellSession, workspace: Path) -> None:
    pid = int(shell.run("cd /; echo $$", 10).output)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    assert not shell.alive
    result = shell.run("pwd", 10)
    assert result.restarted and "previous shell had exited" in result.notice
    assert result.output == f"{workspace}\n" and result.exit_code == 0


def test_huge_output_is_capped_and_saved(shell: ShellSession) -> None:
    start = time.monotonic()
    result = shell.run("yes | head -c 50000000; echo; echo THE-END", 60)
    elapsed = time.monotonic() - start
    print(f"50 MB of output took {elapsed:.2f} s")
    assert elapsed < 20
    assert result.exit_code == 0
    assert len(result.output) <= MAX_OUTPUT_CHARS + 200
    assert result.output.startswith("y\ny\n") and result.output.rstrip().endswith("THE-END")
    assert "lines / " in result.output and "bytes elided" in result.output
    path = result.full_output_path
    assert path is not None and str(path) in result.output
    assert path.stat().st_size == 50_000_000 + len("\nTHE-END\n")
    with open(path, "rb") as f:
        f.seek(-11, os.SEEK_END)
        assert f.read() == b"y\n\nTHE-END\n"


def test_long_single_line_and_short_output_not_saved(shell: ShellSession) -> None:
    short = shell.run("seq 1 100", 10)
    assert short.full_output_path is None and short.output.count("\n") == 100
    line = shell.run("head -c 300000 /dev/zero | tr '\\0' 'a'; echo", 10)
    assert line.full_output_path is not None
    assert line.full_output_path.stat().st_size == 300_001
    assert len(line.output) <= MAX_OUTPUT_CHARS + 200


def test_reading_stdin_gets_eof_at_once(shell: ShellSession) -> None:
    start = time.monotonic()
    read = shell.run('read x; echo "read returned $?"', 30)
    assert read.output == "read returned 1\n"
    py = shell.run("python3 -c 'input()'", 30)
    assert py.exit_code == 1 and "EOFError" in py.output
    assert shell.run("cat; echo done", 30).output == "done\n"
    assert time.monotonic() - start < 5
    # Input still flows through pipes and heredocs.
    assert shell.run("printf 'yes\\n' | { read a; echo got $a; }", 10).output == "got yes\n"


@pytest.mark.parametrize(
    "command",
    ["read x < /dev/tty", "python3 -c \"print('prompt:', flush=True); open('/dev/tty').readline()\""],
)
def test_terminal_reads_are_detected_quickly(shell: ShellSession, command: str) -> None:
    shell.run("cd /tmp", 10)
    start = time.monotonic()
    result = shell.run(command, 60)
    elapsed = time.monotonic() - start
    print(f"{command!r}: input wait detected after {elapsed:.2f} s")
    assert elapsed < 4
    assert result.waited_for_input and not result.timed_out and not result.restarted
    assert "waiting for input" in result.notice and "non-interactively" in result.render()
    assert result.exit_code != 0
    assert shell.run("pwd", 10).output == "/tmp\n"  # same shell, state kept


def test_timeout_interrupts_and_shell_survives(shell: ShellSession) -> None:
    shell.run("cd /tmp", 10)
    start = time.monotonic()
    result = shell.run("echo started; sleep 1000", 2)
    elapsed = time.monotonic() - start
    assert 1.9 < elapsed < 4
    assert result.timed_out and not result.restarted and result.exit_code == 130
    assert "started" in result.output and "timed out after 2 s" in result.notice
    assert shell.run("pwd", 10).output == "/tmp\n"


def test_command_ignoring_ctrl_c_is_killed(shell: ShellSession) -> None:
    start = time.monotonic()
    result = shell.run("trap '' INT; sleep 1000", 1)
    assert time.monotonic() - start < 6
    assert result.timed_out and "killed" in result.notice
    after = shell.run("echo alive", 10)
    assert after.output == "alive\n" and after.exit_code == 0


def test_lost_prompt_restarts_the_shell(shell: ShellSession) -> None:
    # The marker now goes to /dev/null: the shell sits at its prompt and never reports back.
    start = time.monotonic()
    result = shell.run("exec > /dev/null", 30)
    assert time.monotonic() - start < 8
    assert result.restarted and "stopped answering" in result.notice and result.exit_code is None
    assert result.render().endswith("[exit code: unknown]")
    assert shell.run("echo back", 10).output == "back\n"


def test_background_jobs_return_promptly(shell: ShellSession, workspace: Path) -> None:
    start = time.monotonic()
    bg = shell.run("sleep 30 &", 10)
    assert time.monotonic() - start < 1 and bg.exit_code == 0
    shell.run(f"{sys.executable} -m http.server 0 --bind 127.0.0.1 > server.log 2>&1 &", 10)
    nxt = shell.run("echo next; jobs | wc -l", 10)
    assert nxt.output == "next\n2\n"
    # A background writer's output shows up, but never ends or corrupts a later command's result.
    shell.run("(sleep 0.2; echo from-background) &", 10)
    time.sleep(0.4)
    later = shell.run("echo mine", 10)
    assert later.exit_code == 0 and "mine\n" in later.output and "from-background" in later.output
    chatty = shell.run("(for i in $(seq 1 3000); do echo noise $i; done) & echo fg-done", 10)
    assert chatty.exit_code == 0 and "fg-done" in chatty.output
    time.sleep(0.3)
    assert shell.run("echo quiet", 10).output.endswith("quiet\n")


def test_interrupt_from_another_thread(shell: ShellSession) -> None:
    fired: list[float] = []

    def stop() -> None:
        fired.append(time.monotonic())
        shell.interrupt()

    threading.Timer(0.3, stop).start()
    result = shell.run("sleep 100", 60)
    latency = time.monotonic() - fired[0]
    print(f"interrupt took {latency * 1000:.0f} ms")
    assert latency < 0.5
    assert result.interrupted and not result.timed_out and "stopped by the user" in result.notice
    assert shell.run("echo ok", 10).output == "ok\n"


def test_colours_progress_and_bad_bytes(shell: ShellSession) -> None:
    coloured = shell.run(r"printf '\033[1;31mred\033[0m plain \033]0;title\007done\n'", 10)
    assert coloured.output == "red plain done\n"
    progress = shell.run(r"printf 'get 10%%\rget 50%%\rget 100%%\nnext\n'", 10)
    assert progress.output == "get 100%\nnext\n"
    text = shell.run(r"printf 'caf\xc3\xa9 \xff\xfe bad \xe2\x82'", 10)
    assert text.output.startswith("café \ufffd\ufffd bad") and text.exit_code == 0


def test_clean_output_unit() -> None:
    assert clean_output("plain\n") == "plain\n"
    assert clean_output("\x1b[32mok\x1b[0m\n") == "ok\n"
    assert clean_output("a\rb\r\n") == "b\n"
    assert clean_output("50%\r100%\r\n") == "100%\n"
    assert clean_output("N\x08NAME\x07\n") == "NAME\n"


def test_true_round_trip_is_fast(shell: ShellSession) -> None:
    for _ in range(5):
        shell.run("true", 10)
    times = []
    for _ in range(40):
        start = time.perf_counter()
        shell.run("true", 10)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"`true` round trip: median {median * 1000:.2f} ms, max {max(times) * 1000:.2f} ms")
    assert median < 0.2


def test_close_kills_shell_and_background_jobs(workspace: Path, tmp_path: Path) -> None:
    session = ShellSession(workspace, {}, tmp_path / "a")
    pid = int(session.run("sleep 300 & echo $!", 10).output.split()[-1])
    os.kill(pid, 0)  # running
    session.close()
    assert not session.alive
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        # A killed child of the dead shell may linger as a zombie until init reaps it.
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.05)
    else:
        pytest.fail("background job survived close()")
    with pytest.raises(ToolError):
        session.run("true", 10)


def test_tool_through_the_registry(workspace: Path, tmp_path: Path) -> None:
    registry = ToolRegistry(load_specs(["bash"]))
    spec = registry.specs["bash"]
    assert spec.access == "exec" and spec.parameters["required"] == ["command"]
    ctx = ToolContext(workspace=workspace, artifacts_dir=tmp_path / "art", env={"GREETING": "hey"})

    def call(**arguments: object) -> ToolResult:
        return registry.run(ctx, ToolCall(id="1", name="bash", arguments=arguments))

    try:
        first = call(command="cd /tmp; echo $GREETING")
        assert first.output == "hey\n[exit code: 0]" and not first.is_error
        second = call(command="pwd; false")
        assert second.output == "/tmp\n[exit code: 1]" and second.is_error
        assert second.data["exit_code"] == 1
        slow = call(command="sleep 5", timeout=1)
        assert slow.is_error and slow.data["timed_out"] and "timed out after 1 s" in slow.output
        empty = call(command="  ")
        assert empty.is_error and "command is empty" in empty.output
        with pytest.raises(ToolError, match="timeout must be"):
            run_bash(ctx, "true", timeout=0)
        shell = ctx.state["shell"]
        assert isinstance(shell, ShellSession) and shell.alive
    finally:
        ctx.close()
    assert not shell.alive
