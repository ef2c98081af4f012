"""WebNLG 2017 adapter: official counts, seen/unseen, the paper's linearization and order."""

import json
import xml.etree.ElementTree as ET

import pytest
from test_data_helpers import SAMPLES, shared

from prefix_bench.data import prepare_dataset, read_jsonl
from prefix_bench.tasks.webnlg import linearize_triples, modified_triples


def test_golden_from_committed_sample():
    path = SAMPLES / "webnlg" / "sample_train_Airport_1triple.xml"
    entries = list(ET.parse(path).getroot().iter("entry"))
    assert [linearize_triples(modified_triples(e, path)) for e in entries] == [
        ' | Aarhus_Airport : cityServed : "Aarhus, Denmark"',
        " | Aarhus_Airport : cityServed : Aarhus",
    ]


def test_golden_multi_triple():
    assert linearize_triples([("Aarhus", "leaderName", "Jacob_Bundsgaard"),
                              ("Aarhus_Airport", "cityServed", "Aarhus")]) == \
        " | Aarhus : leaderName : Jacob_Bundsgaard | Aarhus_Airport : cityServed : Aarhus"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("webnlg")
    return out, prepare_dataset("webnlg", out, source_dir=shared("webnlg"))


def test_counts(prepared):
    _, manifest = prepared
    c = manifest["counts"]
    assert (c["train"]["units"], c["train"]["refs"], c["train"]["pairs"]) == (6940, 18102, 18025)
    assert (c["dev"]["units"], c["dev"]["refs"]) == (872, 2268)
    assert c["test"]["units"] == 1862
    assert manifest["options"] == {"lexs": "good"}
    assert all(f["matches_pinned"] for f in manifest["source"]["files"].values())


def test_test_order_and_seen(prepared):
    out, _ = prepared
    units = read_jsonl(out / "test.eval.jsonl")
    assert [u["meta"]["eid"] for u in units] == [f"Id{i}" for i in range(1, 1863)]
    assert sum(u["meta"]["seen"] for u in units) == 971
    assert sum(not u["meta"]["seen"] for u in units) == 891
    assert units[0]["source"] == " | Abilene_Regional_Airport : cityServed : Abilene,_Texas"
    assert units[0]["references"][0] == "Abilene, Texas is served by the Abilene regional airport."


def test_train_pairs_good_only(prepared):
    out, _ = prepared
    pairs = read_jsonl(out / "train.jsonl")
    assert len(pairs) == 18025
    assert pairs[0]["source"] == ' | Aarhus_Airport : cityServed : "Aarhus, Denmark"'
    assert pairs[0]["target"] == "The Aarhus is the airport of Aarhus, Denmark."


def test_dev_matches_paper_json(prepared):
    """Sources and lex lists equal the paper's own dev.json conversion, in the same order."""
    out, _ = prepared
    data = json.loads(shared("webnlg/webnlg_challenge_2017/dev.json").read_text())["entries"]
    expected = []
    for i, item in enumerate(data):
        e = item[str(i + 1)]
        expected.append(("".join(f" | {t['subject']} : {t['property']} : {t['object']}"
                                 for t in e["modifiedtripleset"]),
                         [lex["lex"] for lex in e["lexicalisations"]]))
    units = read_jsonl(out / "dev.eval.jsonl")
    assert [(u["source"], u["references"]) for u in units] == expected
