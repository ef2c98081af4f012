"""XSum (BBC article -> one-sentence summary) adapter.

Source:   the authors' release (EdinburghNLP/XSum): `XSUM-EMNLP18-Summary-Data-Original.tar.gz`
          (one `bbc-summary-data/<id>.summary` file per article) and the standard split file
          `XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json`. Neither is obtainable offline, so both
          sha256 are recorded at first download and verified on every later use.
          A local `--source-dir` may instead hold the split JSON beside the tarball or an
          extracted `bbc-summary-data/` folder, or per-split JSONL files
          (`train.jsonl`, `dev.jsonl`/`validation.jsonl`, `test.jsonl`; the shared 50-article
          sample `xsum_test_sample50.jsonl` counts as test) with `document`, `summary` and
          `id`/`bbcid` (optional `url`), or a Hugging Face `datasets` copy saved with
          `save_to_disk` (a folder with `dataset_dict.json`; splits train/validation/test with
          `document`, `summary`, `id`): the route for sites that mirror the hub rather than
          GitHub. It serves the plain split only: HF's conversion has no URLs, so the topic
          splits refuse it; its split lists and text cleaning are those of the split file and
          the boilerplate rule below, and the manifest records which route prepared the data.
Licence:  research release of BBC articles by the XSum authors (Narayan, Cohen, Lapata, EMNLP 2018).
Splits:   train 204,045; dev (validation) 11,332; test 11,334.
Text:     as the common Hugging Face conversion: lines that are BBC share-widget boilerplate
          ("Share this with", "Email", "Facebook", ...) and blank lines are dropped;
          summary = FIRST-SENTENCE, document = RESTBODY (newline-separated sentences).
Source truncation (recorded in the manifest): `max_source_words` keeps the first N
          whitespace-separated words (original spacing kept), `max_source_chars` the first N
          characters; default none (the model stage truncates to 512/1024 tokens).
Topics (BBC URL, for the paper's extrapolation splits, section 7.3): the last `bbc.co.uk/` or
          `bbc.com/` in the URL (archive.org URLs wrap it) is followed by a path. `section` = its
          first segment ("news", "sport", ...). `category`: for news, the second segment with the
          trailing "-<digits>" article id removed, up to the first "-" ("uk-scotland-glasgow-123"
          -> "uk", "world-europe-123" -> "world", "business-123" -> "business"); for other
          sections the second segment if it is not the numeric id ("sport/football/123" ->
          "football"), else "". Unknown URL -> section and category "".
          Option `topic_split`: "news_to_sports" keeps section news in train/dev and sport in test;
          "within_news" keeps news categories {world, uk, business} in train/dev and the other
          news categories in test; "none" (default) keeps everything.

This module is the whole task: the adapter above (reading the official files), the scorer
below (the official protocol) and `TASK`, the metadata every stage reads (tasks/__init__.py).
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
from rouge_score import rouge_scorer, scoring

from ..data.base import DatasetAdapter
from ..data.download import SourceFile
from ..data.schema import Entry
from ..errors import PrefixBenchError
from ..score.io import Units
from . import Task

VERSION = 1

SPLIT_FILE = "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json"
SPLIT_FILE_COMMIT = "7b1d1ed4128e23bd96fa967ab1858523d29dfa96"
TARBALL = "XSUM-EMNLP18-Summary-Data-Original.tar.gz"
_SPLIT_KEYS = {"train": "train", "dev": "validation", "test": "test"}
HF_DATASET_DICT = "dataset_dict.json"  # what `datasets.DatasetDict.save_to_disk` writes
_JSONL_NAMES = {"train": ("train.jsonl",), "dev": ("dev.jsonl", "validation.jsonl"),
                "test": ("test.jsonl", "xsum_test_sample50.jsonl")}
_FILES = [
    # pinned to a commit of the authors' repository, not a branch that could move
    SourceFile(SPLIT_FILE, (f"https://raw.githubusercontent.com/EdinburghNLP/XSum/{SPLIT_FILE_COMMIT}/"
                            "XSum-Dataset/" + SPLIT_FILE,)),
    SourceFile(TARBALL, ("https://huggingface.co/datasets/EdinburghNLP/xsum/resolve/main/data/" + TARBALL,)),
]
_BOILERPLATE = frozenset({
    "Share this with", "Email", "Facebook", "Messenger", "Twitter", "Pinterest", "WhatsApp",
    "Linkedin", "LinkedIn", "Copy this link",
    "These are external links and will open in a new window",
})
_MARKER = re.compile(r"\[SN\](URL|TITLE|FIRST-SENTENCE|RESTBODY)\[SN\]")
WITHIN_NEWS_TRAIN = frozenset({"world", "uk", "business"})


def parse_summary_file(text: str) -> dict[str, str]:
    """Fields of one `<id>.summary` file: url, title, summary, document."""
    kept = "\n".join(line for line in text.splitlines()
                     if line.strip() and line.strip() not in _BOILERPLATE)
    parts = _MARKER.split(kept)
    fields = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if "FIRST-SENTENCE" not in fields or "RESTBODY" not in fields:
        raise ValueError("missing [SN]FIRST-SENTENCE[SN] or [SN]RESTBODY[SN]")
    return {"url": fields.get("URL", ""), "title": fields.get("TITLE", ""),
            "summary": fields["FIRST-SENTENCE"], "document": fields["RESTBODY"]}


def bbc_topic(url: str) -> tuple[str, str]:
    """(section, category) of a BBC article URL, as described in the module header."""
    match = re.search(r".*bbc\.co(?:\.uk|m)/([^?#]*)", url)
    if not match:
        return "", ""
    segments = [s for s in match.group(1).split("/") if s]
    if not segments:
        return "", ""
    section = segments[0]
    rest = segments[1] if len(segments) > 1 else ""
    if section == "news":
        return section, re.sub(r"-?\d+$", "", rest).split("-")[0]
    return section, "" if rest.isdigit() else rest


def truncate(text: str, max_words: int | None, max_chars: int | None) -> str:
    """Keep the first `max_words` words (original spacing) and/or `max_chars` characters."""
    if max_words is not None:
        match = re.match(r"\s*(?:\S+\s+){0,%d}" % (max_words - 1) + r"\S*", text)
        text = match.group(0) if match else text
    if max_chars is not None:
        text = text[:max_chars]
    return text


def _keep(split: str, section: str, category: str, topic_split: str) -> bool:
    if topic_split == "news_to_sports":
        return section == ("sport" if split == "test" else "news")
    if topic_split == "within_news":
        if section != "news":
            return False
        return (category not in WITHIN_NEWS_TRAIN) == (split == "test")
    return True


class XSumAdapter(DatasetAdapter):
    name = "xsum"
    VERSION = VERSION
    OPTIONS = {"max_source_words": None, "max_source_chars": None, "topic_split": "none"}
    CHOICES = {"topic_split": ("none", "news_to_sports", "within_news")}

    def files(self, split: str) -> list[SourceFile]:
        return list(_FILES)

    def local_paths(self, split: str, source_dir: Path) -> list[Path]:
        if (source_dir / HF_DATASET_DICT).is_file():  # the arrow files are what the checksums cover
            return [source_dir / HF_DATASET_DICT, *sorted((source_dir / _SPLIT_KEYS[split]).glob("*.arrow"))]
        for name in _JSONL_NAMES[split]:
            if (source_dir / name).is_file():
                return [source_dir / name]
        if (source_dir / "bbc-summary-data").is_dir():
            return [source_dir / SPLIT_FILE]
        if (source_dir / TARBALL).is_file():
            return [source_dir / SPLIT_FILE, source_dir / TARBALL]
        wanted = " or ".join(_JSONL_NAMES[split])
        return [source_dir / SPLIT_FILE, source_dir / f"{TARBALL} (or {wanted})"]

    def _records(self, split: str, source_dir: Path) -> Iterator[tuple[str, dict[str, str]]]:
        """(bbcid, fields) of the split, in split-file order (JSONL: file order)."""
        first = self.local_paths(split, source_dir)[0]
        if first.name == HF_DATASET_DICT:
            yield from _read_hf_dataset(source_dir, split)
            return
        if first.suffix == ".jsonl":
            yield from _read_jsonl_source(first)
            return
        try:
            ids = json.loads(first.read_text(encoding="utf-8"))[_SPLIT_KEYS[split]]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise PrefixBenchError(f"{first}: not the XSum split file ({err!r}); "
                                   "download it again") from None
        found = dict(_read_summaries(source_dir, set(ids)))
        missing = [i for i in ids if i not in found]
        if missing:
            raise PrefixBenchError(f"{source_dir}: {len(missing)} {split} articles missing "
                                   f"(e.g. {missing[0]}.summary); the data is incomplete")
        for bbcid in ids:
            yield bbcid, found[bbcid]

    def load(self, split: str, source_dir: Path, options: dict[str, Any]) -> list[Entry]:
        entries = []
        topic_split = options["topic_split"]
        for bbcid, rec in self._records(split, source_dir):
            if topic_split != "none" and not rec.get("url"):
                # Topics come from the article URLs (Table 4); a copy without them (e.g. Hugging
                # Face's XSum) would silently give every topic split zero pairs.
                raise PrefixBenchError(f"{source_dir}: article {bbcid} has no URL, but topic_split "
                                       f"{topic_split!r} reads topics from the URLs; use the original XSum "
                                       "release (its .summary files carry [SN]URL[SN])")
            section, category = bbc_topic(rec.get("url", ""))
            if not _keep(split, section, category, options["topic_split"]):
                continue
            source = truncate(rec["document"], options["max_source_words"],
                              options["max_source_chars"])
            entries.append(Entry(id=f"xsum-{split}-{bbcid}", source=source,
                                 references=[rec["summary"]],
                                 meta={"bbcid": bbcid, "url": rec.get("url", ""),
                                       "section": section, "category": category}))
        return entries


def _read_jsonl_source(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            try:
                row = json.loads(line)
                bbcid = str(row.get("id", row.get("bbcid")))
                yield bbcid, {"document": row["document"], "summary": row["summary"],
                              "url": row.get("url", "")}
            except (json.JSONDecodeError, KeyError, AttributeError) as err:
                raise PrefixBenchError(f"{path}:{lineno}: not an XSum record with document and "
                                       f"summary ({err!r})") from None


def _read_hf_dataset(source_dir: Path, split: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Rows of a Hugging Face XSum copy saved with `save_to_disk` (no URLs: plain split only)."""
    import datasets  # only this route needs it

    try:
        rows = datasets.load_from_disk(str(source_dir))[_SPLIT_KEYS[split]]
    except (FileNotFoundError, KeyError, ValueError) as err:
        raise PrefixBenchError(f"{source_dir}: not a saved Hugging Face XSum DatasetDict with a "
                               f"{_SPLIT_KEYS[split]!r} split ({err}); save it with "
                               "`load_dataset(...).save_to_disk(DIR)`") from None
    missing = {"document", "summary", "id"} - set(rows.column_names)
    if missing:
        raise PrefixBenchError(f"{source_dir}: the {_SPLIT_KEYS[split]!r} split lacks column(s) "
                               f"{sorted(missing)}; expected XSum's document, summary and id")
    for row in rows:
        yield str(row["id"]), {"document": row["document"], "summary": row["summary"], "url": ""}


def _read_summaries(source_dir: Path, wanted: set[str]) -> Iterator[tuple[str, dict[str, str]]]:
    """Parse the wanted `<id>.summary` files from the extracted folder or the tarball."""
    folder = source_dir / "bbc-summary-data"
    if folder.is_dir():
        for bbcid in wanted:
            path = folder / f"{bbcid}.summary"
            if path.is_file():
                yield bbcid, _parse(path.read_text(encoding="utf-8"), str(path))
        return
    tarball = source_dir / TARBALL
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                name = Path(member.name).name
                if not name.endswith(".summary") or name[:-8] not in wanted:
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    text = handle.read().decode("utf-8")
                    yield name[:-8], _parse(text, f"{tarball}!{member.name}")
    except (tarfile.TarError, EOFError, OSError) as err:
        raise PrefixBenchError(f"{tarball}: corrupt or truncated archive ({err}); delete it and "
                               "download again") from None


def _parse(text: str, where: str) -> dict[str, str]:
    try:
        return parse_summary_file(text)
    except ValueError as err:
        raise PrefixBenchError(f"{where}: malformed XSum summary file ({err})") from None


# --- scoring: the official protocol ------------------------------------------------------------
# XSum ROUGE-1/2/L F-measures with Google's rouge-score (Porter stemming), on a 0-100 scale.
#
# Default aggregation: the corpus mean of per-summary F-measures. `aggregation="bootstrap"`
# reproduces the Prefix-Tuning paper's number instead: outputs are cut into consecutive batches,
# each batch gets rouge-score's BootstrapAggregator "mid" F-measure, and batch values are averaged
# (the paper's evaluation loop scored per batch). Bootstrap resampling is seeded for repeatability.
# Uses the first reference of each unit (XSum has one).


ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
KEYS = {"rouge1": "ROUGE_1", "rouge2": "ROUGE_2", "rougeL": "ROUGE_L"}
Aggregation = Literal["mean", "bootstrap"]


def score_xsum(
    refs: list[list[str]],
    hyps: list[str],
    *,
    paper_protocol: bool = False,
    aggregation: Aggregation | None = None,
    batch_size: int = 32,
    seed: int = 0,
) -> tuple[dict, dict]:
    """Return ({"ROUGE_1", "ROUGE_2", "ROUGE_L"}, settings)."""
    aggregation = aggregation or ("bootstrap" if paper_protocol else "mean")
    if aggregation not in ("mean", "bootstrap"):
        raise PrefixBenchError(
            f"unknown XSum aggregation {aggregation!r}; choose 'mean' or 'bootstrap'"
        )
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    per_item = [
        scorer.score(unit[0] if unit else "", hyp) for unit, hyp in zip(refs, hyps)
    ]
    if aggregation == "mean":
        metrics = {
            KEYS[t]: 100.0 * float(np.mean([s[t].fmeasure for s in per_item]))
            for t in ROUGE_TYPES
        }
    else:
        if batch_size < 1:
            raise PrefixBenchError(f"XSum batch size must be >= 1, got {batch_size}")
        np.random.seed(seed)  # rouge-score resamples with numpy's global generator
        batch_values = {t: [] for t in ROUGE_TYPES}
        for start in range(0, len(per_item), batch_size):
            agg = scoring.BootstrapAggregator()
            for s in per_item[start : start + batch_size]:
                agg.add_scores(s)
            result = agg.aggregate()
            for t in ROUGE_TYPES:
                batch_values[t].append(result[t].mid.fmeasure)
        metrics = {
            KEYS[t]: 100.0 * float(np.mean(batch_values[t])) for t in ROUGE_TYPES
        }
    settings = {
        "rouge": "rouge-score, use_stemmer=True, F-measure, x100",
        "aggregation": aggregation,
        **(
            {"batch_size": batch_size, "seed": seed}
            if aggregation == "bootstrap"
            else {}
        ),
    }
    return metrics, settings


def _score_units(units: Units, hyps: list[str], **options: Any) -> tuple[dict, dict]:
    return score_xsum(units.refs, hyps, **options)


TASK = Task(
    name="xsum", adapter=XSumAdapter, score=_score_units, metrics=("ROUGE_1", "ROUGE_2", "ROUGE_L"),
    paper_dataset="xsum", score_options=("aggregation", "batch_size", "seed"), needs_java=False,
    one_reference_per_line=True,
    citation="Lin (2004). ROUGE: A Package for Automatic Evaluation of Summaries; Narayan et al. (2018) XSum.",
)
