"""XSum adapter: release format (folder and tarball), topics from BBC URLs, truncation."""

import json
import shutil
import tarfile

import pytest
from test_data_helpers import SAMPLES, shared

from prefix_bench.data import prepare_dataset, read_jsonl
from prefix_bench.tasks.xsum import bbc_topic, truncate
from prefix_bench.errors import PrefixBenchError

XSUM = SAMPLES / "xsum"


@pytest.mark.parametrize("url,topic", [
    ("http://web.archive.org/web/2015/http://www.bbc.co.uk/news/uk-scotland-glasgow-west-1",
     ("news", "uk")),
    ("http://www.bbc.co.uk/news/world-europe-32150347", ("news", "world")),
    ("http://www.bbc.com/news/business-12345", ("news", "business")),
    ("http://www.bbc.co.uk/news/health-12345", ("news", "health")),
    ("http://www.bbc.com/sport/football/34567", ("sport", "football")),
    ("http://www.bbc.com/sport/0/cricket/34567", ("sport", "")),
    ("not a url", ("", "")),
])
def test_bbc_topic(url, topic):
    assert bbc_topic(url) == topic


def test_truncate_words_and_chars():
    assert truncate("a b\nc d", 3, None) == "a b\nc"
    assert truncate("a b c", 10, None) == "a b c"
    assert truncate("abcdef", None, 4) == "abcd"


def test_release_folder_golden(tmp_path):
    manifest = prepare_dataset("xsum", tmp_path, source_dir=XSUM)
    assert {s: c["units"] for s, c in manifest["counts"].items()} == \
        {"train": 2, "dev": 1, "test": 1}
    train = read_jsonl(tmp_path / "train.jsonl")
    # Share-widget boilerplate and blank lines are dropped; sentences stay newline-separated.
    assert train[0]["source"] == ("The bridge cost two million pounds .\nIt links the old town "
                                  "and the harbour .\nLocal people welcomed it .")
    assert train[0]["target"] == "A new bridge opened in the town on Monday."
    assert train[0]["meta"]["category"] == "uk"


def test_tarball_and_topic_splits(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(XSUM / "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json", src)
    with tarfile.open(src / "XSUM-EMNLP18-Summary-Data-Original.tar.gz", "w:gz") as tar:
        tar.add(XSUM / "bbc-summary-data", arcname="bbc-summary-data")
    m = prepare_dataset("xsum", tmp_path / "n2s", source_dir=src, topic_split="news_to_sports")
    assert {s: c["units"] for s, c in m["counts"].items()} == {"train": 2, "dev": 1, "test": 1}
    m = prepare_dataset("xsum", tmp_path / "wn", source_dir=src, topic_split="within_news",
                        max_source_words=5)
    assert {s: c["units"] for s, c in m["counts"].items()} == {"train": 2, "dev": 0, "test": 0}
    assert m["options"] == {"max_source_words": 5, "max_source_chars": None,
                            "topic_split": "within_news"}
    assert read_jsonl(tmp_path / "wn" / "train.jsonl")[0]["source"] == \
        "The bridge cost two million"


def test_bad_option_type(tmp_path):
    with pytest.raises(PrefixBenchError, match="max_source_words"):
        prepare_dataset("xsum", tmp_path, source_dir=XSUM, max_source_words="5")


def test_shared_sample50(tmp_path):
    m = prepare_dataset("xsum", tmp_path, source_dir=shared("xsum"), splits=["test"])
    assert m["counts"]["test"] == {"pairs": 50, "units": 50, "refs": 50}


def test_topic_split_of_a_copy_without_urls_is_one_line_error(tmp_path):
    """A JSONL copy without article URLs (Hugging Face's XSum has none) cannot be split by topic:
    it used to give every Table 4 split zero pairs, silently."""
    src = tmp_path / "src"
    src.mkdir()
    rows = [{"id": str(i), "document": "Some article text.", "summary": "A summary."} for i in range(3)]
    (src / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert prepare_dataset("xsum", tmp_path / "plain", source_dir=src, splits=["test"])["counts"]["test"]["pairs"] == 3
    with pytest.raises(PrefixBenchError, match=r"has no URL, but topic_split 'news_to_sports'"):
        prepare_dataset("xsum", tmp_path / "topics", source_dir=src, splits=["test"], topic_split="news_to_sports")
    assert not (tmp_path / "topics" / "manifest.json").exists()


def test_hugging_face_saved_copy_prepares_the_plain_split(tmp_path):
    """The `datasets` route: a DatasetDict saved with save_to_disk (what
    `load_dataset("EdinburghNLP/xsum").save_to_disk(DIR)` writes) prepares like the other routes,
    with its arrow files checksummed; the topic splits refuse it (no URLs)."""
    datasets = pytest.importorskip("datasets")
    rows = {"document": ["First article.\nSecond line.", "Another one."], "summary": ["One.", "Two."],
            "id": ["101", "102"]}
    split = datasets.Dataset.from_dict(rows)
    datasets.DatasetDict({"train": split, "validation": split, "test": split}).save_to_disk(str(tmp_path / "hf"))
    manifest = prepare_dataset("xsum", tmp_path / "out", source_dir=tmp_path / "hf")
    assert manifest["counts"]["test"]["pairs"] == 2
    assert any(name.endswith(".arrow") for name in manifest["source"]["files"])
    test = read_jsonl(tmp_path / "out" / "test.jsonl")
    assert [r["id"] for r in test] == ["xsum-test-101#0", "xsum-test-102#0"]
    assert test[0]["source"] == "First article.\nSecond line." and test[0]["references"] == ["One."]
    with pytest.raises(PrefixBenchError, match="has no URL"):
        prepare_dataset("xsum", tmp_path / "topics", source_dir=tmp_path / "hf", topic_split="within_news")


def test_hugging_face_copy_without_a_column_is_one_line_error(tmp_path):
    datasets = pytest.importorskip("datasets")
    split = datasets.Dataset.from_dict({"document": ["a"], "id": ["1"]})
    datasets.DatasetDict({"train": split, "validation": split, "test": split}).save_to_disk(str(tmp_path / "hf"))
    with pytest.raises(PrefixBenchError, match=r"lacks column\(s\) \['summary'\]"):
        prepare_dataset("xsum", tmp_path / "out", source_dir=tmp_path / "hf", splits=["test"])
