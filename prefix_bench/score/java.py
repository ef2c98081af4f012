"""Java runtime check and the two Java tools the official table-to-text scorers use.

METEOR 1.5 and the Stanford PTB tokenizer are jars bundled in the pycocoevalcap wheel. The
official E2E and WebNLG/DART scripts call exactly these jars, so we call them too (no Python
re-implementation could match their numbers). Each tool is one JVM process per scoring call:
METEOR runs in `-stdio` mode and serves every corpus score of the call (all/seen/unseen), the
PTB tokenizer runs once over references and hypotheses together.
"""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from ..errors import PrefixBenchError
from ..progress import ProgressLog

JAVA_MISSING = (
    "Java runtime not found: METEOR and the PTB tokenizer need it; install one, "
    "e.g. `apt-get install -y openjdk-17-jre-headless`"
)

# Tokens the COCO caption scorer (used by the E2E scorer) drops after PTB tokenization.
PTB_PUNCTUATION = frozenset(
    [
        "''",
        "'",
        "``",
        "`",
        "-LRB-",
        "-RRB-",
        "-LCB-",
        "-RCB-",
        ".",
        "?",
        "!",
        ",",
        ":",
        "-",
        "--",
        "...",
        ";",
    ]
)


def java_executable() -> str:
    """Path of `java`, or a one-line PrefixBenchError saying how to install it."""
    java = shutil.which("java")
    if java is None:
        raise PrefixBenchError(JAVA_MISSING)
    return java


@functools.lru_cache(maxsize=1)
def java_version() -> str:
    """The first line of `java -version` (recorded in every score file)."""
    out = subprocess.run(
        [java_executable(), "-version"], capture_output=True, text=True
    )
    first = (out.stderr or out.stdout).strip().splitlines()[0]
    match = re.search(r'"([^"]+)"', first)
    return match.group(1) if match else first


def _pycocoevalcap_jar(relative: str, what: str) -> Path:
    """A jar shipped inside pycocoevalcap (a namespace package: located through its path)."""
    import pycocoevalcap

    jar = Path(next(iter(pycocoevalcap.__path__))) / relative
    if not jar.is_file():
        raise PrefixBenchError(f"{what} jar not found at {jar}: reinstall pycocoevalcap==1.2")
    return jar


def meteor_jar() -> Path:
    """meteor-1.5.jar from pycocoevalcap; its paraphrase table sits in data/ beside it."""
    return _pycocoevalcap_jar("meteor/meteor-1.5.jar", "METEOR")


def corenlp_jar() -> Path:
    """stanford-corenlp-3.4.1.jar from pycocoevalcap (holds the PTB tokenizer)."""
    return _pycocoevalcap_jar("tokenizer/stanford-corenlp-3.4.1.jar", "Stanford CoreNLP")


def ptb_tokenize(lines: list[str]) -> list[str]:
    """PTB-tokenize and lowercase each line, then drop punctuation tokens (COCO caption rules).

    Same command as pycocoevalcap's PTBTokenizer, but the temporary file goes to the system
    temp dir instead of the (possibly read-only) site-packages folder.
    """
    java = java_executable()
    text = "\n".join(line.replace("\n", " ") for line in lines)
    with tempfile.TemporaryDirectory(prefix="prefix_bench_ptb_") as tmp:
        path = Path(tmp) / "sentences.txt"
        path.write_text(text, encoding="utf-8")
        proc = subprocess.run(
            [
                java,
                "-cp",
                str(corenlp_jar()),
                "edu.stanford.nlp.process.PTBTokenizer",
                "-preserveLines",
                "-lowerCase",
                str(path),
            ],
            capture_output=True,
        )
    if proc.returncode != 0:
        raise PrefixBenchError(
            f"PTB tokenizer failed (exit {proc.returncode}): "
            f"{proc.stderr.decode(errors='replace').strip()[-300:]}"
        )
    out = proc.stdout.decode("utf-8").split("\n")
    # -preserveLines keeps one output line per input line; trailing newline adds one empty item.
    if len(out) < len(lines):
        raise PrefixBenchError(
            f"PTB tokenizer returned {len(out)} lines for {len(lines)} inputs"
        )
    return [
        " ".join(w for w in line.rstrip().split(" ") if w not in PTB_PUNCTUATION)
        for line in out[: len(lines)]
    ]


class Meteor:
    """A METEOR 1.5 process in `-stdio` mode: segment statistics, then corpus scores.

    Protocol: `SCORE ||| ref1 ||| ... ||| hyp` answers a statistics line;
    `EVAL ||| stats1 ||| ...` answers one score per segment and then the corpus score, computed
    from the summed statistics exactly like the file mode's "Final score".
    """

    def __init__(
        self, extra_args: tuple[str, ...] = ("-l", "en", "-norm")
    ) -> None:  # noqa: B006
        java = java_executable()
        jar = meteor_jar()
        self.args = ["-Xmx2G", "-jar", jar.name, "-", "-", "-stdio", *extra_args]
        # cwd = jar folder: the jar finds its paraphrase table relative to it.
        self._proc = subprocess.Popen(
            [java, *self.args],
            cwd=jar.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._lock = threading.Lock()

    def alive(self) -> bool:
        return self._proc.poll() is None

    def _ask(self, line: str) -> str:
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write((line + "\n").encode("utf-8"))
        self._proc.stdin.flush()
        answer = self._proc.stdout.readline()
        if not answer:
            raise PrefixBenchError(
                "METEOR process ended unexpectedly (is Java working? try `java -version`)"
            )
        return answer.decode("utf-8").strip()

    @staticmethod
    def _clean(text: str) -> str:
        # "|||" is the protocol separator and a newline would end the request.
        return " ".join(text.replace("|||", "").split())

    def stats(self, hyp: str, refs: list[str]) -> str:
        """Sufficient statistics of one segment against its references."""
        parts = ["SCORE", *(self._clean(r) for r in refs), self._clean(hyp)]
        with self._lock:
            return self._ask(" ||| ".join(parts))

    def stats_all(self, hyps: list[str], refs: list[list[str]]) -> list[str]:
        """`stats` of every segment, with progress lines in a job's log (segments done, rate, ETA):
        METEOR is the longest part of scoring a large test set."""
        progress = ProgressLog("score: METEOR", len(hyps), "segments")
        out = []
        for hyp, segment_refs in zip(hyps, refs):
            out.append(self.stats(hyp, segment_refs))
            progress.update(len(out))
        return out

    def corpus_score(self, stats: list[str]) -> float:
        """Corpus METEOR from per-segment statistics (a subset gives that subset's score)."""
        if not stats:
            raise PrefixBenchError("METEOR: no segments to score")
        assert self._proc.stdin and self._proc.stdout
        with self._lock:
            self._proc.stdin.write(
                (" ||| ".join(["EVAL", *stats]) + "\n").encode("utf-8")
            )
            self._proc.stdin.flush()
            # One line per segment score, then the corpus score.
            for _ in range(len(stats)):
                self._proc.stdout.readline()
            answer = self._proc.stdout.readline().decode().strip()
        if not answer:
            raise PrefixBenchError(
                "METEOR process ended unexpectedly (is Java working? try `java -version`)"
            )
        return float(answer)

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


_SHARED: dict[tuple[str, ...], Meteor] = {}
_SHARED_LOCK = threading.Lock()
METEOR_ARGS = (
    "-l",
    "en",
    "-norm",
)  # what pycocoevalcap (E2E) and the WebNLG/DART scripts use


def shared_meteor(extra_args: tuple[str, ...] = METEOR_ARGS) -> Meteor:
    """This process's METEOR server for `extra_args`, started on first use (or after a crash)."""
    with _SHARED_LOCK:
        meteor = _SHARED.get(extra_args)
        if meteor is None or not meteor.alive():
            meteor = Meteor(extra_args)
            _SHARED[extra_args] = meteor
        return meteor


@atexit.register
def close_shared_meteors() -> None:
    """Stop the shared METEOR processes (also runs at interpreter exit)."""
    with _SHARED_LOCK:
        for meteor in _SHARED.values():
            meteor.close()
        _SHARED.clear()
