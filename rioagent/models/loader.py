"""Load a checkpoint for the in-process engine: find it, check it fits, load it (text only), pick a runner.

Everything model-specific comes from the checkpoint: chat template, stop ids, special tokens. Nothing is
chosen by the model's name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rioagent.config import ModelProfile
from rioagent.models.base import ModelError, ModelNotFound
from rioagent.models.engine import SpecialIds
from rioagent.models.memory import GIB, check_fits, checkpoint_bytes, estimate, parameter_bytes

QWEN35_TEXT_TYPES = ("qwen3_5_moe_text", "qwen3_5_text")
MULTIMODAL_TYPES = ("qwen3_5_moe", "qwen3_5")
# The multimodal checkpoint keeps the language model under model.language_model; the text-only class
# has it under model. Vision tower and MTP head weights are skipped by the class itself.
TEXT_ONLY_KEYS = {r"^model\.language_model\.": "model."}
STOP_TOKENS = ("<|im_end|>", "<|endoftext|>")


@dataclass
class Loaded:
    model: Any
    tokenizer: Any
    runner: Any
    special: SpecialIds
    name: str
    context_window: int


def resolve_checkpoint(path: str, *, offline: bool) -> Path:
    """A local directory, or a hub id fetched into (or found in) the hub cache."""
    local = Path(path).expanduser()
    if local.is_dir():
        return _check_weights(local)
    if local.exists() or path.startswith((".", "/", "~")) or path.count("/") != 1:
        raise ModelNotFound(f"no checkpoint directory at {local}; give --local a directory with config.json")
    try:
        from huggingface_hub import snapshot_download

        got = snapshot_download(path, local_files_only=offline)
    except Exception as exc:
        if offline:
            raise ModelNotFound(
                f"{path} is not in the local hub cache and offline is set; download it first "
                f"(hf download {path}) or unset offline in the profile"
            ) from exc
        raise ModelError(f"could not fetch {path} from the hub: {exc}") from exc
    return _check_weights(Path(got))


def _check_weights(path: Path) -> Path:
    if not (path / "config.json").is_file():
        raise ModelNotFound(f"{path} has no config.json: not a transformers checkpoint")
    if not (list(path.glob("*.safetensors")) or list(path.glob("*.bin"))):
        raise ModelNotFound(
            f"{path} has a config but no weights (*.safetensors): the download is incomplete or the "
            "weights are elsewhere"
        )
    return path


def available_memory(profile: ModelProfile) -> tuple[int, str]:
    """Bytes the model may use, and where: max_memory when given, else free memory on the devices."""
    import torch

    if profile.max_memory:
        return sum(_parse_size(v) for v in profile.max_memory.values()), "max_memory"
    if torch.cuda.is_available() and profile.device_map != "cpu":
        free = sum(torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count()))
        return free, f"{torch.cuda.device_count()} GPU(s)"
    pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return pages, "this machine's free RAM"


def _parse_size(text: str | int) -> int:
    if isinstance(text, int):
        return text
    units = {"gib": GIB, "gb": 10**9, "mib": 1024**2, "mb": 10**6, "kib": 1024, "kb": 10**3, "b": 1}
    lowered = text.strip().lower()
    for unit, scale in units.items():
        if lowered.endswith(unit):
            try:
                return int(float(lowered[: -len(unit)]) * scale)
            except ValueError:
                break
    raise ModelError(f"max_memory value {text!r} is not a size like '70GiB'")


def special_ids(tokenizer: Any, generation_config: Any) -> SpecialIds:
    vocab = tokenizer.get_vocab()
    stop = set()
    eos = getattr(generation_config, "eos_token_id", None)
    stop.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        stop.add(tokenizer.eos_token_id)
    stop.update(vocab[t] for t in STOP_TOKENS if t in vocab)
    newline = tokenizer.encode("\n", add_special_tokens=False)
    return SpecialIds(
        stop=frozenset(stop),
        message_start=vocab.get("<|im_start|>"),
        think=vocab.get("<think>"),
        think_end=vocab.get("</think>"),
        newline=newline[0] if len(newline) == 1 else None,
    )


def load_checkpoint(profile: ModelProfile, *, graphs: bool | None = None) -> Loaded:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from transformers.utils import logging as hf_logging

    # Progress bars and kernel-fallback notices would interleave with the agent's own output.
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    path = resolve_checkpoint(profile.path, offline=profile.offline)
    if profile.offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config = AutoConfig.from_pretrained(path)
    kwargs: dict[str, Any] = {}
    if config.model_type in MULTIMODAL_TYPES and hasattr(config, "text_config"):
        config = config.text_config
        kwargs["key_mapping"] = TEXT_ONLY_KEYS
    qwen35 = config.model_type in QWEN35_TEXT_TYPES
    context = min(profile.context_window, getattr(config, "max_position_embeddings", profile.context_window))
    weights = checkpoint_bytes(path) or (parameter_bytes(config, 2) if qwen35 else 0)
    available, where = available_memory(profile)
    try:
        check_fits(estimate(config, weights, context, snapshots=8), available, where=where, context=context)
    except MemoryError as exc:
        raise ModelError(str(exc)) from exc
    dtype = "auto" if profile.dtype == "auto" else getattr(torch, profile.dtype, None)
    if dtype is None:
        raise ModelError(
            f"dtype {profile.dtype!r} is not a torch dtype; use bfloat16, float16, float32 or auto"
        )
    device_map = profile.device_map if torch.cuda.is_available() else "cpu"
    if profile.max_memory:
        kwargs["max_memory"] = {(int(k) if str(k).isdigit() else k): v for k, v in profile.max_memory.items()}
    if qwen35:
        kwargs["experts_implementation"] = profile.experts_implementation
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, config=config, dtype=dtype, device_map=device_map, **kwargs
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not load {path}: {exc}") from exc
    model.eval()
    _refuse_offload(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not tokenizer.chat_template:
        raise ModelError(f"{path} has no chat template; the engine renders prompts with the checkpoint's own")
    try:
        generation_config = GenerationConfig.from_pretrained(path)
    except OSError:
        generation_config = model.generation_config
    if qwen35:
        from rioagent.models.qwen35_runner import Qwen35Runner

        runner: Any = Qwen35Runner(model, context, graphs=graphs, compile=profile.compile_decode)
    else:
        from rioagent.models.hf_runner import HFRunner

        runner = HFRunner(model, context)
    return Loaded(
        model=model,
        tokenizer=tokenizer,
        runner=runner,
        special=special_ids(tokenizer, generation_config),
        name=profile.model or path.name,
        context_window=context,
    )


def _refuse_offload(model: Any) -> None:
    """Layers offloaded to disk (or streamed from CPU by accelerate hooks) would be read every token."""
    meta = [name for name, p in model.named_parameters() if p.device.type == "meta"]
    if meta:
        raise ModelError(
            f"{len(meta)} weights were offloaded (e.g. {meta[0]}); the engine needs every layer in GPU or "
            "CPU memory: raise max_memory for a device or add GPUs"
        )
