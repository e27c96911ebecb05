import pytest

from asr.text import (
    BLANK,
    DEFAULT_TOKENS,
    Tokenizer,
    UnknownCharacterError,
    normalize_text,
)


def test_token_set_is_blank_space_apostrophe_letters():
    assert DEFAULT_TOKENS[0] == BLANK and DEFAULT_TOKENS[1] == " " and DEFAULT_TOKENS[2] == "'"
    assert "".join(DEFAULT_TOKENS[3:]) == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@pytest.mark.parametrize("raw, norm", [
    ("Hello,  world!", "HELLO WORLD"),
    ("don't stop", "DON'T STOP"),
    ("'Tis the season'", "TIS THE SEASON"),
    ("Café — naïve", "CAFE NAIVE"),
    ("well-known “quotes”", "WELL KNOWN QUOTES"),
    ("it’s", "IT'S"),
])
def test_normalize(raw, norm):
    assert normalize_text(raw) == norm


def test_normalize_keeps_characters_it_cannot_map_so_encode_reports_them():
    assert normalize_text("room 101") == "ROOM 101"
    with pytest.raises(UnknownCharacterError, match="'01'"):
        Tokenizer().encode("room 101")
    with pytest.raises(UnknownCharacterError, match="Ж"):
        Tokenizer().encode("Жук")


def test_encode_decode_roundtrip():
    tok = Tokenizer()
    ids = tok.encode("It's a test")
    assert 0 not in ids
    assert tok.decode(ids) == "IT'S A TEST"
    assert tok.decode([0, *ids, 0]) == "IT'S A TEST"


def test_tokens_save_load(tmp_path):
    tok = Tokenizer()
    tok.save(tmp_path / "tokens.json")
    assert Tokenizer.load(tmp_path / "tokens.json").tokens == tok.tokens
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        Tokenizer.load(tmp_path / "bad.json")


def test_first_token_must_be_blank():
    with pytest.raises(ValueError, match="blank"):
        Tokenizer(["A", "B"])


def test_error_counts_match_jiwer_and_handle_empty_references():
    import jiwer

    from asr.scoring import char_errors, word_errors

    refs, hyps = ["THE CAT SAT", "A B C D"], ["THE BAT SAT DOWN", "A C D"]
    w = word_errors(refs, hyps)
    assert (w.substitutions, w.deletions, w.insertions, w.reference_length) == (1, 1, 1, 7)
    assert w.rate == jiwer.wer(refs, hyps)
    assert char_errors(refs, hyps).rate == jiwer.cer(refs, hyps)
    assert word_errors([""], ["TWO WORDS"]).insertions == 2 and char_errors([""], ["AB"]).insertions == 2
