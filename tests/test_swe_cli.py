"""`rioagent eval` through the real command line: the agent against an OpenAI-compatible endpoint (the
scripted fake server, answering like Qwen3.5 behind llama.cpp), usage errors, lazy imports, and the
docker code path's arguments (no daemon here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rioagent.swe.docker import ACTIVATE, DockerEnv, docker_sandbox, image_name
from rioagent.swe.instances import load_instances
from tests.fake_openai_server import FakeOpenAIServer, qwen_tool_call
from tests.test_swe_repos import build_calc, write_instances, write_table
from tests.test_swe_runner import edit_calls

ROOT = Path(__file__).resolve().parents[1]


def rioagent(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "rioagent", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_eval_swe_against_an_endpoint_then_grade(tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    calc = build_calc(repos)
    instances = write_instances(tmp_path / "instances.json", [calc.record])
    table = write_table(tmp_path / "table.yaml")
    edits = "\n".join(edit_calls(calc.record["patch"]))
    script = [
        {"reasoning": "Which tests are there?", "content": qwen_tool_call("bash", command="ls tests")},
        {"reasoning": "Fix both functions.", "content": edits},
        {"reasoning": "Done.", "content": qwen_tool_call("finish", summary="fixed add and mul")},
    ]
    common = ["--instances", str(instances), "--repos-dir", str(repos), "--env-table", str(table),
              "--cache-dir", str(tmp_path / "cache"), "--env", "host"]  # fmt: skip
    with FakeOpenAIServer(script) as server:
        run = rioagent(
            tmp_path, "eval", "swe", *common, "--out", str(tmp_path / "run"),
            "--endpoint", server.base_url, "--model", "qwen3.5-test", "--max-steps", "6",
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "[1/1] rio-test__calc-1: done (finish called), 3 steps" in run.stderr
    preds = json.loads((tmp_path / "run" / "preds.json").read_text())
    assert preds["rio-test__calc-1"]["model_name_or_path"] == "qwen3.5-test"
    assert "+    return a * b" in preds["rio-test__calc-1"]["model_patch"]
    # The task the model got is prompts/swe.j2 with the issue in it.
    first = server.requests[0]["messages"]
    assert any("<issue>" in str(m.get("content")) and "rio-test/calc" in str(m.get("content")) for m in first)

    graded = rioagent(tmp_path, "eval", "grade", *common, "--preds", str(tmp_path / "run" / "preds.json"),
                      "--out", str(tmp_path / "run"))  # fmt: skip
    assert graded.returncode == 0, graded.stderr
    assert "resolved 1/1 (100.0%)" in graded.stderr
    report = rioagent(tmp_path, "eval", "report", str(tmp_path / "run"))
    assert "**Resolved: 1/1 (100.0%)**" in report.stdout
    assert "## Agent" in report.stdout and "steps per instance: mean 3.0" in report.stdout


def test_usage_errors(tmp_path: Path) -> None:
    proc = rioagent(tmp_path, "eval", "swe", "--instances", "nope.json", "--out", "o")
    assert proc.returncode == 2 and "--instances nope.json: cannot read it" in proc.stderr
    proc = rioagent(tmp_path, "eval", "swe", "--out", "o")
    assert proc.returncode == 2 and "--instances" in proc.stderr
    calc = write_instances(tmp_path / "i.json", [build_calc(tmp_path / "repos").record])
    proc = rioagent(tmp_path, "eval", "swe", "--instances", str(calc), "--out", "o", "--slice", "x")
    assert proc.returncode == 2 and "expected START:END" in proc.stderr
    proc = rioagent(tmp_path, "eval", "swe", "--instances", str(calc), "--out", "o", "--profile", "nope")
    assert proc.returncode == 2 and "no model profile named 'nope'" in proc.stderr
    proc = rioagent(tmp_path, "eval", "grade", "--instances", str(calc), "--out", "o", "--preds", "gold",
                    "--repos-dir", str(tmp_path / "missing"))  # fmt: skip
    assert proc.returncode == 2 and "no such folder" in proc.stderr
    proc = rioagent(tmp_path, "eval")
    assert proc.returncode == 2 and "ACTION" in proc.stderr


def test_the_cli_stays_light() -> None:
    code = (
        "import sys, rioagent.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('torch', 'transformers', 'textual', 'ray', 'yaml', 'rioagent.swe.harness') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_docker_arguments(tmp_path: Path) -> None:
    assert image_name("django__django-15202") == "swebench/sweb.eval.x86_64.django_1776_django-15202:latest"
    assert image_name("Foo__Bar-1", namespace="me") == "me/sweb.eval.x86_64.foo_1776_bar-1:latest"
    calc = build_calc(tmp_path / "repos")
    [inst] = load_instances(write_instances(tmp_path / "i.json", [calc.record]))
    env = DockerEnv(write_table(tmp_path / "t.yaml")).prepare(inst, tmp_path / "ws", tmp_path / "s")
    assert env.python == "python" and env.spec is not None and env.spec.runner == "pytest"
    box = docker_sandbox(env, tmp_path / "ws", tmp_path / "s", hidden=[])
    args = box.prefix()
    assert args[:5] == ["docker", "run", "--rm", "-i", "--init"]
    assert args[args.index("--network") + 1] == "none"
    assert f"{tmp_path / 'ws'}:/testbed" in args and f"{tmp_path / 's'}:{tmp_path / 's'}:ro" in args
    assert f"{tmp_path / 's' / 'tmp'}:{tmp_path / 's' / 'tmp'}" in args
    assert args[args.index("-w") + 1] == "/testbed"
    assert args[-4:] == [env.image, "-c", ACTIVATE, "rioagent"]
    assert "RIOAGENT_RESULTS_FILE" in args  # the pytest plugin's results file reaches the container
    open_box = docker_sandbox(env, tmp_path / "ws", tmp_path / "s", hidden=[], network=True)
    assert "--network" not in open_box.prefix()
