"""NIST (mteval-v13a recipe) on hand-made cases whose values were worked out by hand."""

import math

import pytest

from prefix_bench.score.nist import BETA, brevity_penalty, ngram_info, nist


def toks(text: str) -> list[str]:
    return text.split()


def test_beta_gives_half_penalty_at_two_thirds():
    assert brevity_penalty(2, 3) == pytest.approx(0.5)
    assert brevity_penalty(5, 4) == 1.0
    assert BETA == pytest.approx(math.log(0.5) / math.log(1.5) ** 2)


def test_info_weights_use_prefix_counts_and_total_words():
    # ref "a b a": a x2, b x1, 3 words; "a b", "b a", "a b a" once each.
    info = ngram_info([[toks("a b a")]])
    assert info[("a",)] == pytest.approx(math.log2(3 / 2))
    assert info[("b",)] == pytest.approx(math.log2(3))
    assert info[("a", "b")] == pytest.approx(math.log2(2 / 1))
    assert info[("b", "a")] == pytest.approx(0.0)
    assert info[("a", "b", "a")] == pytest.approx(0.0)


def test_single_segment_with_brevity_penalty():
    # unigrams: (log2 1.5 + log2 3) / 2; bigram "a b": 1 / 1; BP(2/3) = 0.5
    expected = ((math.log2(1.5) + math.log2(3)) / 2 + 1.0) * 0.5
    assert nist([toks("a b")], [[toks("a b a")]]) == pytest.approx(expected)


def test_clipping_by_best_single_reference():
    # refs "a b", "a a": a x3, b x1 (4 words). Hyp "a a a": "a" matches 2 times (max in ONE
    # reference, not 3), "a a" once; info(a)=log2(4/3), info(a a)=log2(3/1); no penalty (3 >= 4/2).
    expected = 2 * math.log2(4 / 3) / 3 + math.log2(3) / 2
    assert nist([toks("a a a")], [[toks("a b"), toks("a a")]]) == pytest.approx(
        expected
    )


def test_reference_length_official_vs_paper():
    # Every unigram has info log2(8/2) = 2; matched bigrams have info 0: precision sum = 8/4 = 2.
    hyps = [toks("a b"), toks("c d")]
    refs = [[toks("a b"), toks("a b c d")], [toks("c d")]]
    # official Lref = 8 words / (3 refs / 2 segments) = 16/3 -> ratio 0.75
    official = 2 * math.exp(BETA * math.log(4 / (16 / 3)) ** 2)
    # paper Lref = mean(2, 4) + 2 = 5 -> ratio 0.8
    paper = 2 * math.exp(BETA * math.log(4 / 5) ** 2)
    assert nist(hyps, refs) == pytest.approx(official)
    assert nist(hyps, refs, ref_length="paper") == pytest.approx(paper)
    assert official == pytest.approx(1.410878, abs=1e-6)


def test_empty_references_and_hypotheses():
    # an empty reference slot counts neither words nor references
    assert nist([toks("a b")], [[toks("a b a"), []]]) == pytest.approx(
        nist([toks("a b")], [[toks("a b a")]])
    )
    assert nist([[]], [[toks("a b")]]) == 0.0
    with pytest.raises(ValueError):
        nist([toks("a")], [])
