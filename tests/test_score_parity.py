"""Parity with the official scorers on the visible calibration anchors (shared/refdata).

E2E: the TGen baseline on the 547 dev MRs must give the published BLEU/NIST/METEOR/ROUGE_L/CIDEr
to 4 decimals. WebNLG 2017: the challenge baseline must give the published BLEU (2 dp) and the
METEOR/TER of the official scripts (1e-3) on all/seen/unseen. Needs ../shared beside the repo
(CI copies it there) and Java; skipped otherwise. One scoring run per dataset, shared.
"""

import csv
import shutil
from pathlib import Path

import pytest

from prefix_bench.score import score_task

SHARED = Path(__file__).resolve().parents[2] / "shared"
REFDATA = SHARED / "refdata"

pytestmark = [
    pytest.mark.skipif(
        not (REFDATA / "expected_scores_dev_visible.csv").is_file(),
        reason=f"shared data not found at {SHARED} (parity anchors live in shared/refdata)",
    ),
    pytest.mark.skipif(
        shutil.which("java") is None, reason="Java runtime not found (METEOR needs it)"
    ),
]


def expected(case: str) -> dict[str, float]:
    with (REFDATA / "expected_scores_dev_visible.csv").open(encoding="utf-8") as f:
        return {
            row["metric"]: float(row["value"])
            for row in csv.DictReader(f)
            if row["case"] == case
        }


@pytest.fixture(scope="module")
def e2e_dev():
    return score_task(
        "e2e",
        SHARED / "data" / "e2e" / "devset.csv",
        REFDATA / "e2e-dev-baseline" / "baseline-devel-output.txt",
    )


@pytest.fixture(scope="module")
def webnlg_test():
    return score_task(
        "webnlg",
        SHARED
        / "data"
        / "webnlg"
        / "webnlg_challenge_2017"
        / "test"
        / "testdata_with_lex.xml",
        REFDATA / "webnlg2017-baseline" / "baseline_sorted.txt",
    )


@pytest.mark.parametrize("metric", ["BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"])
def test_e2e_dev_baseline(e2e_dev, metric):
    assert round(e2e_dev[metric], 4) == pytest.approx(
        expected("e2e_dev_tgen")[metric], abs=1e-9
    )


def test_e2e_dev_counts(e2e_dev):
    assert e2e_dev["settings"]["n_units"] == 547
    assert e2e_dev["settings"]["n_references"] == 4672


@pytest.mark.parametrize("metric", ["BLEU_all", "BLEU_seen", "BLEU_unseen"])
def test_webnlg_baseline_bleu(webnlg_test, metric):
    assert round(webnlg_test[metric], 2) == pytest.approx(
        expected("webnlg2017_baseline")[metric], abs=1e-9
    )


@pytest.mark.parametrize(
    "metric", ["METEOR_all", "METEOR_seen", "METEOR_unseen", "TER_all"]
)
def test_webnlg_baseline_meteor_ter(webnlg_test, metric):
    assert webnlg_test[metric] == pytest.approx(
        expected("webnlg2017_baseline")[metric], abs=1e-3
    )


def test_webnlg_seen_unseen_split(webnlg_test):
    assert (webnlg_test["settings"]["n_seen"], webnlg_test["settings"]["n_unseen"]) == (
        971,
        891,
    )


# TER on the seen/unseen subsets used to be 0.4497 / 0.8060 here vs 0.4486 / 0.8073 listed:
# sacrebleu's TER differs from tercom 0.7.25 on 31 of the 1,862 outputs and the differences only
# cancel over the whole set. ter.py now follows tercom's beam search and shift search, and the
# listed values are reproduced to 4 decimals.
@pytest.mark.parametrize("metric", ["TER_seen", "TER_unseen"])
def test_webnlg_baseline_ter_subsets_close(webnlg_test, metric):
    assert webnlg_test[metric] == pytest.approx(
        expected("webnlg2017_baseline")[metric], abs=1e-4
    )


def test_webnlg_baseline_ter_subsets_exact(webnlg_test):
    exp = expected("webnlg2017_baseline")
    assert all(
        round(webnlg_test[m], 4) == pytest.approx(exp[m], abs=1e-9)
        for m in ("TER_all", "TER_seen", "TER_unseen")
    )


def test_tercom_segment_beyond_sacrebleu():
    """WebNLG 2017 test entry Id658 (baseline output, normalised): tercom's greedy shifts
    reach 13 edits against the first reference, where sacrebleu's TER counts 26 (17 on the
    second), so the segment's best is 13, not 17."""
    from prefix_bench.score.ter import ter_segment

    hyp = (
        "conservative party ( uk ) is the leader of blackpool where afc blackpool ' s ground"
        " is located . the club is managed by stuart parker who plays for stockport county"
        " f . c . ."
    )
    refs = [
        (
            "stuart parker who plays for stockport county f . c . was a manager at afc"
            " blackpool . the club is also located in blackpool . the conservative party"
            " ( uk ) is the leader of blackpool ."
        ),
        (
            "afc blackpool in blackpool are managed by stuart parker , previously a player"
            " for stockport county f . c . the leader of blackpool is the conservative party"
            " ( uk ) ."
        ),
    ]
    assert ter_segment(hyp, refs) == (13.0, 35.0)
