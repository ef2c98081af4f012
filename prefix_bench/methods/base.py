"""The one small interface every training method implements.

The trainer and the generator only talk to this interface, so there is never an
`if method == "prefix"` outside a method's own folder (STYLE.md 3). A method wraps a Hugging Face
language model (`self.lm`) and decides which parameters train, how a forward pass runs, which
extra inputs `generate` needs, and what gets saved.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from ..errors import PrefixBenchError


def save_hf_model(lm: nn.Module, tokenizer, out_dir: Path) -> None:
    """`lm` and its tokenizer as a plain Hugging Face model directory (safetensors weights)."""
    lm.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))


class Method(nn.Module):
    """Base class: full model, no extras. Subclasses override what differs."""

    #: registry name, set by subclasses
    name: str = ""
    #: "sum" = per-sequence sum of token losses averaged over the batch (paper's prefix runs),
    #: "mean" = token mean (the usual fine-tuning loss).
    objective: str = "mean"
    #: True when the method's decoding state is per source row (INFIX-k): a decoder must then
    #: keep every row of a batch until the batch ends (our beam search drops finished items)
    per_source_state: bool = False

    def __init__(self, lm: nn.Module, config) -> None:
        super().__init__()
        self.lm = lm
        self.config = config

    # --- tokenizer-dependent set-up ----------------------------------------------------------
    def initialize(self, tokenizer, fit: bool = True) -> dict:
        """Set-up that needs the tokenizer, called once right after construction.

        `fit=True` (training, before the optimizer collects parameters) also runs any fitting
        initialisation (prefix init from real words, paper section 7.4); `fit=False` (loading a
        trained run) only resolves tokenizer-dependent shapes. Returns figures for the run record.
        """
        return {}

    def train(self, mode: bool = True) -> "Method":
        """Train mode for the method; the wrapped LM's dropout follows the `lm_dropout` option
        (the paper's prefix code keeps the frozen LM in eval mode; fine-tuning keeps dropout on)."""
        super().train(mode)
        if not getattr(self.config, "lm_dropout", True):
            self.lm.eval()
        return self

    # --- forward / generation -------------------------------------------------------------
    def format_source(self, source: str) -> str:
        """The source text as this method feeds it to the LM, in training and decoding alike
        (fine-tuning's low-data cue words; every other method: unchanged)."""
        return source

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **decoder_inputs) -> torch.Tensor:
        """Logits [B, T, V] for a batch (training or scoring). Encoder-decoder models also get
        `decoder_input_ids` / `decoder_attention_mask` (models.formatting.TextFormat.forward)."""
        return self.lm(input_ids=input_ids, attention_mask=attention_mask, **decoder_inputs).logits

    def generation_kwargs(self, attention_mask: torch.Tensor, input_ids: torch.Tensor | None = None) -> dict:
        """Extra keyword arguments for `self.lm.generate` for this batch of prompts (e.g. offset
        position ids); methods whose state depends on the source read `input_ids` too."""
        return {}

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        """Context in which `self.lm.generate` sees this method's state (e.g. a cached prefix)."""
        yield

    @contextlib.contextmanager
    def prefix_in_cache(self) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]] | None]:
        """Inside `generating()`: the per-layer prefix K/V a decoder may write once into its KV cache
        ([1, kv_heads, L, head_dim] each), with the attention route's own copy suspended meanwhile;
        None for methods without one prefix shared by every query."""
        yield None

    # --- what is trained and stored --------------------------------------------------------
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Exactly the parameters that train (this is what a run saves; never the frozen LM)."""
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Load a saved trainable state, failing with one line if it belongs to another model/method."""
        own = {n: p for n, p in self.named_parameters() if p.requires_grad}
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            what = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
            raise PrefixBenchError(
                f"{source}: checkpoint does not match method {self.name!r} on this model ({what}); "
                "was it trained with another model or method? Retrain or point to the right run."
            )
        for n, p in own.items():
            if tuple(state[n].shape) != tuple(p.shape):
                raise PrefixBenchError(
                    f"{source}: tensor {n!r} has shape {tuple(state[n].shape)}, this model needs "
                    f"{tuple(p.shape)}; the checkpoint comes from a different model or config"
                )
        with torch.no_grad():
            for n, p in own.items():
                p.copy_(state[n])

    # --- export to other libraries (`prefix-bench export`) ---------------------------------------
    #: formats `export` writes: "peft" (a PEFT adapter for the base model), "hf" (a plain model dir)
    exports: tuple[str, ...] = ()

    def export(self, out_dir: Path, to: str, base_model: str, tokenizer) -> None:
        """Write the trained run to `out_dir` in format `to` (one of `exports`): "hf" saves the
        wrapped LM as it is (methods that train the LM's own weights), "peft" is `export_peft`."""
        if to not in self.exports:
            raise PrefixBenchError(f"method {self.name!r} has no {to!r} export (it has: "
                                   f"{', '.join(self.exports) or 'none'}); prefix and lora export to peft, "
                                   "finetune and finetune_top2 to hf")
        if to == "hf":
            save_hf_model(self.lm, tokenizer, out_dir)
        else:
            self.export_peft(out_dir, base_model)

    def export_peft(self, out_dir: Path, base_model: str) -> None:
        """A PEFT adapter over `base_model` (methods with "peft" in `exports`)."""
        raise NotImplementedError

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters now, parameters stored after training, and the LM's size."""
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        lm_total = sum(p.numel() for p in self.lm.parameters())
        return {"trainable": trainable, "stored": trainable, "lm_total": lm_total}
