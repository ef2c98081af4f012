"""Text normalisation of the WebNLG 2017 challenge scripts and of DART's reference files.

The challenge's `evaluation.py` lowercases, converts to ASCII with unidecode and puts spaces
around every non-word character (`re.split('(\\W)')`), for references and system outputs alike,
so that BLEU/METEOR/TER see the same tokenization for every team. The order of the steps differs
between the two sides and we keep that difference: references are split first and then
unidecoded (so a character that unidecode maps to several, e.g. "½" -> "1/2", stays one token);
outputs are unidecoded first and then split.
"""

from __future__ import annotations

import re

from unidecode import unidecode

_NON_WORD = re.compile(r"(\W)")


def _split_non_word(text: str) -> str:
    return " ".join(" ".join(_NON_WORD.split(text)).split())


def webnlg_reference(text: str) -> str:
    """Normalise one reference text as the challenge's reference files were written."""
    return unidecode(_split_non_word(text).lower())


def webnlg_hypothesis(text: str) -> str:
    """Normalise one system output as the challenge's `write_to_file` does."""
    # evaluation.py reads outputs with unidecode(line.strip()) and then lower+unidecode+split.
    return _split_non_word(unidecode(unidecode(text.strip()).lower()))


def dart_reference(text: str) -> str:
    """Normalise one DART reference as the official reference files hold it.

    Split at non-word characters and lowercased, but NOT unidecoded ("piñero" stays): this
    reproduces all 3 x 5,097 lines of DART v1.1.1's `all-delex-reference{0,1,2}.lex` from the
    test XML exactly.
    """
    return _split_non_word(text).lower()
