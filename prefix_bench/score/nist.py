"""NIST score as mteval-v13a computes it (the E2E challenge's BLEU/NIST script).

No library reproduces mteval's NIST (nltk gives 7.13 where mteval gives 8.61 on the E2E test
baseline), so it is written here from mteval-v13a.pl (NIST 2003; the E2E scorer tuetschek/e2e-metrics
runs it):

- information weights come from n-gram counts pooled over every reference of every segment:
  info(w1..wn) = log2(count(w1..wn-1) / count(w1..wn)); for unigrams the numerator is the total
  number of reference words;
- per segment, a hypothesis n-gram matches at most as often as it occurs in any ONE reference;
- score = sum over n=1..5 of (sum of info of matched n-grams) / (number of hypothesis n-grams),
  both summed over the corpus, times the brevity penalty
  BP = exp(beta * ln^2(min(1, Lsys / Lref))), with beta chosen so that a length ratio of 2/3
  gives BP = 0.5.

Lref differs between the official scorer and the Prefix-Tuning paper's scorer mode:
- "official": total reference words / average number of non-empty references per segment;
- "paper": sum over segments of the segment's mean reference length.

Input is already tokenized (lists of tokens); `e2e.py` applies mteval's 13a tokenization.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Literal, Sequence

MAX_N = 5
# BP(2/3) = 0.5  <=>  beta * ln(2/3)^2 = ln(0.5)
BETA = math.log(0.5) / math.log(1.5) ** 2

RefLength = Literal["official", "paper"]


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def ngram_info(
    references: Sequence[Sequence[Sequence[str]]], max_n: int = MAX_N
) -> dict[tuple, float]:
    """Information weight of every n-gram (n <= max_n) seen in the references."""
    counts: Counter = Counter()
    total_words = 0
    for seg_refs in references:
        for ref in seg_refs:
            total_words += len(ref)
            for n in range(1, max_n + 1):
                counts.update(_ngrams(ref, n))
    info = {}
    for gram, count in counts.items():
        context = counts[gram[:-1]] if len(gram) > 1 else total_words
        info[gram] = math.log2(context / count)
    return info


def nist(
    hypotheses: Sequence[Sequence[str]],
    references: Sequence[Sequence[Sequence[str]]],
    *,
    max_n: int = MAX_N,
    ref_length: RefLength = "official",
) -> float:
    """Corpus NIST of tokenized hypotheses against per-segment lists of tokenized references.

    Empty references (an absent reference slot) add no words and do not count as references.
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} reference sets"
        )
    references = [[r for r in refs if len(r) > 0] for refs in references]
    info = ngram_info(references, max_n)

    matched_info = [0.0] * (max_n + 1)  # index n: summed info of matched n-grams
    hyp_ngrams = [0] * (max_n + 1)
    sys_len = 0
    ref_words = 0
    n_refs = 0
    paper_ref_len = 0.0
    for hyp, refs in zip(hypotheses, references):
        sys_len += len(hyp)
        ref_words += sum(len(r) for r in refs)
        n_refs += len(refs)
        if refs:
            paper_ref_len += sum(len(r) for r in refs) / len(refs)
        for n in range(1, max_n + 1):
            hyp_counts = _ngrams(hyp, n)
            hyp_ngrams[n] += sum(hyp_counts.values())
            best: Counter = Counter()
            for ref in refs:
                best |= _ngrams(
                    ref, n
                )  # element-wise max: clip by the best single reference
            for gram, count in hyp_counts.items():
                if gram in best:
                    matched_info[n] += min(count, best[gram]) * info[gram]

    score = sum(matched_info[n] / max(hyp_ngrams[n], 1) for n in range(1, max_n + 1))
    if ref_length == "official":
        avg_refs = n_refs / len(references) if references else 0.0
        lref = ref_words / avg_refs if avg_refs else 0.0
    elif ref_length == "paper":
        lref = paper_ref_len
    else:
        raise ValueError(
            f"unknown ref_length {ref_length!r}; choose 'official' or 'paper'"
        )
    return score * brevity_penalty(sys_len, lref)


def brevity_penalty(sys_len: float, ref_len: float) -> float:
    """exp(beta * ln^2(min(1, sys/ref))): 1 for outputs at least as long as the references."""
    if ref_len <= 0:
        return 1.0
    ratio = min(1.0, sys_len / ref_len)
    if ratio <= 0:
        return 0.0
    return math.exp(BETA * math.log(ratio) ** 2)
