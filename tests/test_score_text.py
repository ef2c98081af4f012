"""WebNLG 2017 / DART text normalisation (the challenge scripts' tokenization)."""

from prefix_bench.score.text import dart_reference, webnlg_hypothesis, webnlg_reference


def test_webnlg_reference_splits_lowercases_and_asciifies():
    text = "Adolfo Suárez Madrid–Barajas Airport's runway is 18L/36R."
    assert (
        webnlg_reference(text)
        == "adolfo suarez madrid - barajas airport ' s runway is 18l / 36r ."
    )


def test_webnlg_hypothesis_same_tokens_for_ordinary_text():
    text = "Adolfo Suárez Madrid–Barajas Airport's runway is 18L/36R."
    assert webnlg_hypothesis(text) == webnlg_reference(text)
    assert webnlg_hypothesis("  a,b  \n") == "a , b"


def test_reference_split_happens_before_unidecode_hypothesis_after():
    # "½" is a word character: references keep unidecode's "1/2" whole, outputs split it.
    assert webnlg_reference("½ cup").split() == ["1/2", "cup"]
    assert webnlg_hypothesis("½ cup").split() == ["1", "/", "2", "cup"]


def test_underscore_is_a_word_character():
    assert webnlg_reference("Abilene_Texas") == "abilene_texas"


def test_dart_reference_keeps_non_ascii():
    # matches DART's official all-delex-reference0.lex line for this entry
    assert dart_reference(
        "In the 2001 movie Piñero, Mandy Patinkin was casted as Joseph Papp."
    ) == ("in the 2001 movie piñero , mandy patinkin was casted as joseph papp .")
    assert dart_reference("Hawaii Five-O") == "hawaii five - o"
