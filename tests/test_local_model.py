"""The in-process backend end to end: the CLI on the tiny random Qwen3.5-MoE, the loader's errors, the
memory guard, text-only loading of a multimodal checkpoint, and the streaming helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rioagent.config import ModelProfile  # noqa: E402
from rioagent.models.base import ModelError  # noqa: E402
from rioagent.models.loader import load_checkpoint, resolve_checkpoint  # noqa: E402
from rioagent.models.local import Detokenizer, ToolCallStop, chat_messages  # noqa: E402
from rioagent.models.memory import check_fits, estimate, parameter_bytes  # noqa: E402
from tests.tiny_qwen import tiny_config  # noqa: E402


def run_cli(args: list[str], workspace: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    return subprocess.run(
        [sys.executable, "-m", "rioagent", *args],
        cwd=workspace,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )


def test_run_on_the_tiny_random_model_ends_cleanly_with_usage(tiny_qwen_dir, tmp_path):
    workspace = tmp_path / "repo"
    workspace.mkdir()
    (workspace / ".rioagent.toml").write_text(
        "[models.local]\ncontext_window = 4096\nmax_output_tokens = 48\n"
    )
    proc = run_cli(
        [
            "run",
            "Add a README",
            "--local",
            str(tiny_qwen_dir),
            "--output-format",
            "stream-json",
            "--max-steps",
            "4",
        ],
        workspace,
        tmp_path,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["type"] == "session_started" and lines[0]["backend"] == "local"
    result = lines[-1]
    assert result["type"] == "result", proc.stderr[-2000:]
    # Random weights talk nonsense: malformed output or the step limit, never a crash.
    assert result["status"] in ("error", "limit"), result
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1
    assert result["usage"]["prompt_tokens"] > 100 and result["usage"]["completion_tokens"] > 0
    messages = [e for e in lines if e["type"] == "assistant_message"]
    assert messages and all(m["thinking"]["mode"] == "on" for m in messages)
    # From the second step on, the prompt's unchanged prefix is not prefilled again.
    if len(messages) > 1:
        assert messages[1]["thinking"]["reused_tokens"] > 0


def test_swi_policy_reports_latent_steps(tiny_qwen_dir, tmp_path):
    workspace = tmp_path / "repo"
    workspace.mkdir()
    (workspace / ".rioagent.toml").write_text(
        "[models.local]\ncontext_window = 4096\nmax_output_tokens = 24\n"
    )
    proc = run_cli(
        [
            "run",
            "Add a README",
            "--local",
            str(tiny_qwen_dir),
            "--output-format",
            "stream-json",
            "--max-steps",
            "1",
            "--think",
            "swi",
        ],
        workspace,
        tmp_path,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    step = next(e for e in lines if e["type"] == "assistant_message")
    assert step["thinking"]["mode"] == "swi" and step["thinking"]["latent_steps"] >= 1
    assert lines[-1]["thinking"]["latent_steps"] >= 1


def test_missing_checkpoint_and_missing_weights_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="no checkpoint directory"):
        resolve_checkpoint(str(tmp_path / "nope"), offline=True)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="no weights"):
        resolve_checkpoint(str(tmp_path), offline=True)
    with pytest.raises(ModelError, match="offline"):
        resolve_checkpoint("someorg/not-downloaded-model", offline=True)


def test_cli_exit_code_for_a_missing_checkpoint(tmp_path):
    proc = run_cli(["run", "x", "--local", str(tmp_path / "missing")], tmp_path, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "no checkpoint directory" in proc.stderr


def test_memory_guard_says_what_fits():
    config = tiny_config(hidden_size=4096, head_dim=256, num_hidden_layers=4)
    est = estimate(config, weights=parameter_bytes(config, 2), context=262_144, snapshots=8)
    with pytest.raises(MemoryError) as info:
        check_fits(est, available=int(est.weights * 1.2), where="1 GPU(s)", context=262_144)
    text = str(info.value)
    assert "context of about" in text and "context_window" in text
    with pytest.raises(MemoryError, match="the weights alone"):
        check_fits(est, available=est.weights // 2, where="1 GPU(s)", context=262_144)
    check_fits(est, available=est.total, where="x", context=262_144)


def test_loader_refuses_what_does_not_fit(tiny_qwen_dir):
    profile = ModelProfile(
        name="t", backend="local", path=str(tiny_qwen_dir), max_memory={"cpu": "1MiB"}, device_map="cpu"
    )
    with pytest.raises(ModelError, match="needs about"):
        load_checkpoint(profile)


def test_text_only_loading_of_a_multimodal_checkpoint(tmp_path, tiny_qwen_dir):
    from transformers.models.qwen3_5_moe import Qwen3_5MoeConfig, Qwen3_5MoeForConditionalGeneration

    text = tiny_config()
    config = Qwen3_5MoeConfig(
        text_config=text.to_dict(),
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=32, num_heads=2, out_hidden_size=64),
    )
    full = Qwen3_5MoeForConditionalGeneration(config)
    full.save_pretrained(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (tmp_path / name).write_bytes((Path(tiny_qwen_dir) / name).read_bytes())
    loaded = load_checkpoint(
        ModelProfile(
            name="t",
            backend="local",
            path=str(tmp_path),
            dtype="float32",
            device_map="cpu",
            context_window=512,
        )
    )
    assert type(loaded.model).__name__ == "Qwen3_5MoeForCausalLM"
    torch.testing.assert_close(
        loaded.model.model.layers[0].mlp.gate.weight, full.model.language_model.layers[0].mlp.gate.weight
    )
    assert not any("visual" in name for name, _ in loaded.model.named_parameters())
    assert loaded.special.stop == {248_046, 248_044}


def test_detokenizer_streams_multibyte_text_exactly(tiny_qwen_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen_dir)
    text = "naïve café — 日本語 ✓ <tool_call>\n<function=view>"
    detok = Detokenizer(tok)
    pieces = [detok.add(i) for i in tok.encode(text, add_special_tokens=False)]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


def test_tool_call_stop_allows_several_calls_then_stops(tiny_qwen_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen_dir)

    def stops_at(text: str) -> int | None:
        check, ids = ToolCallStop(tok), tok.encode(text, add_special_tokens=False)
        return next((i for i in range(len(ids)) if check(ids[: i + 1])), None)

    one = "<tool_call>\n<function=a>\n</function>\n</tool_call>"
    assert stops_at(one) is None  # just closed: another call may follow
    assert stops_at(one + "\n" + one) is None
    cut = stops_at(one + "\nThe end")
    assert cut is not None and tok.decode(
        tok.encode(one + "\nThe end", add_special_tokens=False)[: cut + 1]
    ).endswith("The")


def test_chat_messages_types_tool_arguments_and_describes_tools_when_the_template_cannot():
    messages = [
        {"role": "system", "content": "sys"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": "view", "arguments": '{"path": "a.py"}'}}
            ],
        },
    ]
    tools = [{"type": "function", "function": {"name": "view", "parameters": {}}}]
    out = chat_messages(messages, tools, template="{{ messages }}")
    assert out[1]["tool_calls"][0]["function"]["arguments"] == {"path": "a.py"}
    assert "<tools>" in out[0]["content"] and '"name": "view"' in out[0]["content"]
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == '{"path": "a.py"}'  # input untouched
    assert (
        "<tools>"
        not in chat_messages(messages, tools, template="{% for t in tools %}{% endfor %}")[0]["content"]
    )
