"""NLG adapters (Lin et al. 2020, "Exploring Versatile Generative Language Model via
Parameter-Efficient Transfer Learning", section 2): one bottleneck adapter after every transformer
block of a frozen LM, each LayerNorm -> Linear(d, b) -> ReLU -> Linear(b, d) plus a residual:

    h <- h + W_up ReLU(W_down LN(h))        h: [B, T, d]

The adapters are attached with forward hooks on the blocks, so the LM's own code and `generate`
are untouched. The up projection's weights start from N(0, 0.02) as in the paper's code
(`up_init: zeros` starts them at zero, so that before training the model is exactly the LM).
"""

from __future__ import annotations

import torch
from torch import nn

from ..base import Method
from ..blocks import transformer_blocks
from .config import AdapterConfig


class Adapter(nn.Module):
    def __init__(self, hidden: int, bottleneck: int, dropout: float, eps: float, up_init: str = "normal") -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.down = nn.Linear(hidden, bottleneck)
        self.up = nn.Linear(bottleneck, hidden)
        self.dropout = nn.Dropout(dropout)
        if up_init == "normal":
            nn.init.normal_(self.up.weight, std=0.02)
        else:
            nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # [B, T, d] -> [B, T, d]
        return h + self.up(self.dropout(torch.relu(self.down(self.norm(h)))))


class AdapterTuning(Method):
    name = "adapter"

    def __init__(self, lm: nn.Module, config: AdapterConfig) -> None:
        super().__init__(lm, config)
        self.objective = config.objective
        lm.requires_grad_(False)
        hidden = lm.config.hidden_size
        eps = getattr(lm.config, "layer_norm_epsilon", None) or getattr(lm.config, "rms_norm_eps", 1e-5)
        blocks = transformer_blocks(lm)
        device = next(lm.parameters()).device
        self.adapters = nn.ModuleList(
            Adapter(hidden, config.bottleneck, config.dropout, eps, config.up_init) for _ in blocks
        )
        if device.type != "meta":
            self.adapters.to(device)
        self._hooks = [b.register_forward_hook(self._hook(a)) for b, a in zip(blocks, self.adapters)]

    @staticmethod
    def _hook(adapter: Adapter):
        def apply(module, args, output):
            # Blocks return the hidden states [B, T, d] (transformers 5) or a tuple led by them.
            if isinstance(output, tuple):
                return (adapter(output[0]), *output[1:])
            return adapter(output)

        return apply

