"""LoRA through PEFT, injected in place so the wrapped LM keeps its own `forward` and `generate`.

`peft.inject_adapter_in_model` replaces the target linear layers by LoRA layers
(W x + (alpha/r) B A x, B initialised to zero, so the untrained model equals the LM). Only the
`lora_A` / `lora_B` matrices train; `trainable_state_dict` therefore holds exactly them.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

from safetensors.torch import save_file
from torch import nn

from ..base import Method
from .config import LoraConfig


class LoraTuning(Method):
    name = "lora"

    def __init__(self, lm: nn.Module, config: LoraConfig) -> None:
        super().__init__(lm, config)
        from peft import LoraConfig as PeftLoraConfig, inject_adapter_in_model

        self.objective = config.objective
        lm.requires_grad_(False)
        targets = list(config.target_modules) or None
        if targets is None:
            from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as defaults

            targets = defaults.get(lm.config.model_type)
        peft_config = PeftLoraConfig(
            r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=targets,
            fan_in_fan_out=lm.config.model_type == "gpt2",  # GPT-2 stores Conv1D weights transposed
        )
        self._peft_config = peft_config  # written with the adapter by `export`
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inject_adapter_in_model(peft_config, lm)
        for n, p in lm.named_parameters():
            p.requires_grad_("lora_" in n)

    exports = ("peft",)

    def export_peft(self, out_dir: Path, base_model: str) -> None:
        """A PEFT LoRA adapter: `PeftModel.from_pretrained(base, out_dir)` gives this run's model.
        PEFT's file names a tensor without the adapter's name ("default"), under "base_model.model."."""
        state = {"base_model.model." + n.removeprefix("lm.").replace(".default.", "."): t.detach().cpu().contiguous()
                 for n, t in self.trainable_state_dict().items()}
        config = copy.copy(self._peft_config)
        config.task_type, config.base_model_name_or_path = "CAUSAL_LM", base_model or None
        out_dir.mkdir(parents=True, exist_ok=True)
        config.save_pretrained(str(out_dir))
        save_file(state, str(out_dir / "adapter_model.safetensors"))
