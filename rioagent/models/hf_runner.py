"""Any causal LM through transformers' own forward: the path for models other than Qwen3.5-MoE (the
SmolLM2 demonstration model, Llama-style checkpoints). Their layers are all attention, so rolling back
to an earlier position is cutting the KV cache; a snapshot is just a length."""

from __future__ import annotations

import torch


class HFRunner:
    def __init__(self, model: torch.nn.Module, max_len: int):
        layer_types = getattr(model.config, "layer_types", None) or []
        if any(kind != "full_attention" and "attention" not in kind for kind in layer_types):
            raise ValueError(
                f"{type(model).__name__} has recurrent layers; transformers' cache cannot roll them back"
            )
        self.model = model
        self.max_len = max_len
        self.device = model.get_input_embeddings().weight.device
        self._cache = None

    @property
    def embedding_matrix(self) -> torch.Tensor:
        return self.model.get_input_embeddings().weight

    def embed_ids(self, ids: list[int] | torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(torch.as_tensor(ids, dtype=torch.long, device=self.device))

    @torch.inference_mode()
    def prefill(self, embeds: torch.Tensor, start: int) -> torch.Tensor:
        from transformers import DynamicCache

        if self._cache is None:
            self._cache = DynamicCache(config=self.model.config)
        self._truncate(start)
        positions = torch.arange(start, start + embeds.shape[0], device=self.device)[None]
        out = self.model(
            inputs_embeds=embeds[None],
            position_ids=positions,
            past_key_values=self._cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return out.logits[0, -1].float()

    def prefill_with_snapshots(
        self, embeds: torch.Tensor, start: int, cuts: list[int]
    ) -> tuple[torch.Tensor, list[int]]:
        return self.prefill(embeds, start), list(cuts)  # a snapshot is a length

    def decode(self, embed: torch.Tensor, pos: int) -> torch.Tensor:
        return self.prefill(embed, pos)

    def snapshot(self) -> int:
        return 0 if self._cache is None else self._cache.get_seq_length()

    def restore(self, snapshot: int) -> None:
        if self._cache is not None:
            self._truncate(snapshot)

    def _truncate(self, length: int) -> None:
        # A negative count of tokens to remove: transformers 5.x rejects the absolute length older
        # versions took (ValueError on the first rollback), and both read a negative count this way.
        extra = self._cache.get_seq_length() - length
        if extra > 0:
            self._cache.crop(-extra)

    def reset(self) -> None:
        self._cache = None
