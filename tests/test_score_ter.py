"""TER's edit distance (tercom's beam-pruned MinEditDist, `prefix_bench/score/ter.py`): the early
stop a shift search asks for never changes an answer it keeps. Corpus parity with tercom itself:
tests/test_score_parity.py."""

from __future__ import annotations

import random

from prefix_bench.score.ter import INF, _med, ter_segment


def test_a_bounded_distance_is_the_full_one_or_says_it_is_above_the_bound():
    rng = random.Random(0)
    words = "the a of club in is by park stuart blackpool".split()
    for _ in range(300):
        hyp = [rng.choice(words) for _ in range(rng.randint(1, 30))]
        ref = [rng.choice(words) for _ in range(rng.randint(1, 30))]
        full, path = _med(hyp, ref)
        assert path is not None and len(path) >= max(len(hyp), len(ref))
        for bound in range(0, int(full) + 2):
            edits, bounded_path = _med(hyp, ref, give_up_above=bound)
            if bounded_path is None:
                assert edits == INF and full > bound  # gave up only when the answer was above
            else:
                assert (edits, bounded_path) == (full, path)
        assert _med(hyp, ref, give_up_above=int(full)) == (full, path)  # never gives up at the answer


def test_shifts_count_one_edit_each():
    # "b c" moved in front of "a" is one shift; tercom's score: 1 edit over 3 reference words
    assert ter_segment("a b c", ["b c a"]) == (1.0, 3.0)
    assert ter_segment("a b c", ["a b c"]) == (0.0, 3.0)
