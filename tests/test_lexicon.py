"""Lexicon-constrained beam search: only listed words come out, near misses become listed words, bad word lists."""

import pytest
import torch

from asr.decoding.beam import BeamSearch
from asr.decoding.config import DecodeSettings
from asr.decoding.lexicon import load_lexicon, read_lexicon
from asr.models.lm import CharLM, LMConfig
from asr.text import Tokenizer

TOK = Tokenizer()


def _emissions(frames: list[dict[str, float]]) -> torch.Tensor:
    """(time, vocab) log-probs: each frame gives some tokens a probability, the rest share what is left."""
    out = torch.full((len(frames), len(TOK)), 0.0)
    for t, frame in enumerate(frames):
        rest = (1.0 - sum(frame.values())) / (len(TOK) - len(frame))
        out[t] = rest
        for token, p in frame.items():
            out[t, TOK.tokens.index(token)] = p
    return out.log()


def _spell(text: str, near: dict[str, str] | None = None) -> list[dict[str, float]]:
    """Two frames per character then a blank frame; where ``near`` maps a character to another, that other is a
    close second (0.35 against 0.6)."""
    frames = []
    for c in text:
        frame = {c: 0.6, near[c]: 0.35} if near and c in near else {c: 0.9}
        frames += [frame, frame, {"<blk>": 0.9}]
    return frames


def _lexicon(tmp_path, words) -> str:
    path = tmp_path / "words.txt"
    path.write_text("\n".join(words) + "\n")
    return str(path)


def test_a_near_miss_becomes_the_listed_word_and_the_last_word_is_emitted(tmp_path):
    lp = _emissions(_spell("KAT SAT ON", near={"K": "C"}))  # no separator after the last word
    free = BeamSearch(TOK, DecodeSettings(method="beam", beam_size=8)).decode_one(lp)[0]
    assert free.text == "KAT SAT ON"
    lexicon = _lexicon(tmp_path, ["CAT", "SAT", "ON", "MAT"])
    best = BeamSearch(TOK, DecodeSettings(method="beam", beam_size=8, lexicon=lexicon)).decode_one(lp)[0]
    assert best.text == "CAT SAT ON"
    assert len(best.path) == lp.shape[0]  # one token per frame of the utterance: word times come from it
    # a word that is not in the list cannot come out, not even as the unfinished last word: ON is only a prefix here
    other = BeamSearch(TOK, DecodeSettings(method="beam", beam_size=8,
                                           lexicon=_lexicon(tmp_path, ["CAT", "SAT", "ONE"])))
    assert set(other.decode_one(lp)[0].text.split()) <= {"CAT", "SAT", "ONE"}


@pytest.mark.parametrize("method", ["beam", "beam_lm"])
def test_a_word_no_hypothesis_finished_does_not_come_out(tmp_path, method):
    """The audio stops inside a word that is only the start of a listed one (ABCD of ABCDEF): no hypothesis in the
    beam reaches a word's end, and flashlight then ends the search mid-word; the unfinished word is dropped (its
    frames read as blanks) and the words before it stay."""
    lp = _emissions(_spell("CAT ") + _spell("ABCD")[:-1])
    lexicon = _lexicon(tmp_path, ["CAT", "ABCDEF"])
    nbest = BeamSearch(TOK, DecodeSettings(method=method, beam_size=8, nbest=4, lexicon=lexicon)).decode_one(lp)
    assert nbest[0].text == "CAT" and all(set(h.text.split()) <= {"CAT", "ABCDEF"} for h in nbest)
    assert len(nbest[0].path) == lp.shape[0] and set(nbest[0].path[12:]) == {TOK.blank_id}
    alone = BeamSearch(TOK, DecodeSettings(method=method, beam_size=8, lexicon=lexicon)).decode_one(lp[12:])
    assert alone[0].text == ""  # nothing finished at all: nothing comes out


def test_the_word_bonus_of_a_beam_without_lm_keeps_short_words_out_of_the_gaps(tmp_path):
    """A lexicon beam without an LM: in a pause where a short listed word is a weak candidate, it comes out with no
    word bonus (flashlight's word score 0), a word penalty (``beam_word_bonus`` < 0) keeps it out; the N-best
    search for rescoring ignores it (rescoring has its own bonus)."""
    gap = [{"<blk>": 0.6, "A": 0.35}] * 2 + [{"<blk>": 0.9}]
    lp = _emissions(_spell("CAT ") + gap + _spell(" SAT"))
    lexicon = _lexicon(tmp_path, ["CAT", "SAT", "A"])

    def best(method="beam", **settings):
        return BeamSearch(TOK, DecodeSettings(method=method, beam_size=8, lexicon=lexicon, **settings)
                          ).decode_one(lp)[0].text

    assert best() == "CAT A SAT"
    assert best(beam_word_bonus=-3.0) == "CAT SAT"
    assert best("beam_lm", beam_word_bonus=-3.0) == best("beam_lm") == "CAT A SAT"


@pytest.mark.parametrize("seed", range(3))
def test_every_hypothesis_of_a_lexicon_search_spells_listed_words(tmp_path, seed):
    torch.manual_seed(seed)
    words = ["A", "AN", "THE", "CAT", "HAT", "THAT", "EAT", "TEA", "ATE"]
    lp = torch.log_softmax(torch.randn(70, len(TOK)) * 2, dim=-1)
    settings = DecodeSettings(method="beam_lm", beam_size=16, nbest=8, lexicon=_lexicon(tmp_path, words))
    nbest = BeamSearch(TOK, settings).decode_one(lp)
    assert nbest and all(set(h.text.split()) <= set(words) for h in nbest)
    assert all(len(h.path) == lp.shape[0] for h in nbest)


def test_the_fused_lstm_lm_scores_characters_inside_a_lexicon_search(tmp_path):
    """Shallow fusion with a lexicon: the LM still moves the choice (between listed words only)."""
    torch.manual_seed(0)
    lm = CharLM(LMConfig(embed_dim=16, hidden_size=24, num_layers=1, dropout=0.0)).eval()
    with torch.no_grad():  # an LM that strongly prefers "H" after anything
        lm.output.bias.zero_()
        lm.output.bias[TOK.tokens.index("H")] = 8.0
    lp = _emissions(_spell("CAT", near={"C": "H"}))
    lexicon = _lexicon(tmp_path, ["CAT", "HAT"])
    plain = BeamSearch(TOK, DecodeSettings(method="beam", beam_size=8, lexicon=lexicon)).decode_one(lp)[0]
    fused = BeamSearch(TOK, DecodeSettings(method="beam_lm", fusion=True, beam_size=8, lm_weight=1.0,
                                           lexicon=lexicon), lm=lm).decode_one(lp)[0]
    assert (plain.text, fused.text) == ("CAT", "HAT")
    assert fused.ngram < 0


def test_a_word_list_is_normalized_like_transcripts_and_bad_ones_are_named(tmp_path, caplog):
    path = tmp_path / "lexicon.txt"
    path.write_text("café\nx-ray\ndon't\n42\n\nhello h e l l o |\nHELLO\n")  # flashlight-style: first column
    lexicon = read_lexicon(path, TOK)
    assert lexicon.words == ("CAFE", "X", "RAY", "DON'T", "HELLO")
    assert (lexicon.skipped, lexicon.example_skipped) == (1, "42")
    with caplog.at_level("WARNING", logger="asr.decoding.lexicon"):  # the skip is said once, where it is loaded
        load_lexicon(path, TOK)
    assert "lexicon.txt: 1 word(s) skipped" in caplog.text and "'42'" in caplog.text
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_lexicon(tmp_path / "missing.txt", TOK)
    (tmp_path / "digits.txt").write_text("1\n2 two\n")
    with pytest.raises(ValueError, match="digits.txt: no word"):
        read_lexicon(tmp_path / "digits.txt", TOK)
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00A")
    with pytest.raises(ValueError, match="binary.txt: a lexicon must be UTF-8"):
        read_lexicon(tmp_path / "binary.txt", TOK)
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        BeamSearch(TOK, DecodeSettings(method="beam", lexicon=str(tmp_path / "nowhere.txt")))


def test_the_lexicon_is_read_again_when_the_file_changes(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("CAT\n")
    first, _ = load_lexicon(path, TOK)
    assert load_lexicon(path, TOK)[0] is first  # read once per file version
    path.write_text("CAT\nHAT\nMAT\n")
    assert load_lexicon(path, TOK)[0].words == ("CAT", "HAT", "MAT")


def test_make_lexicon_ranks_the_text_words_cuts_them_and_adds_word_lists(tmp_path, capsys):
    """`asr make-lexicon`: the LM text's words by frequency (ties alphabetical), --max-words / --min-count cuts, extra
    lists' new words after them; words a model cannot spell (digits) are left out and said; the result loads."""
    import gzip

    from asr.cli import main

    text = tmp_path / "lm.txt.gz"
    with gzip.open(text, "wt") as f:
        f.write("the cat sat on the mat\nThe dog, the café; 42 cats\nthe cat\n")
    extra = tmp_path / "dict.txt"
    extra.write_text("zebra\ncat\nwell-being's\n")
    out = tmp_path / "lexicon.txt"
    assert main(["make-lexicon", str(out), str(text), "--extra", str(extra)]) == 0
    words = out.read_text().split()
    assert words[:3] == ["THE", "CAT", "CAFE"]  # 5, 2, then the 1s alphabetically
    assert set(words[3:-3]) == {"CATS", "DOG", "MAT", "ON", "SAT"} and words[-3:] == ["ZEBRA", "WELL", "BEING'S"]
    printed = capsys.readouterr().out
    assert "8 of the text's 9 distinct words" in printed and "1 left out" in printed
    assert read_lexicon(out, TOK).words == tuple(words)
    assert main(["make-lexicon", str(out), str(text), "--max-words", "2"]) == 0
    assert out.read_text().split() == ["THE", "CAT"]
    capsys.readouterr()
    assert main(["make-lexicon", str(out), str(text), "--min-count", "2"]) == 0
    assert out.read_text().split() == ["THE", "CAT"]
    assert "they cover 50.00% of its 14 running words" in capsys.readouterr().out


def test_make_lexicon_names_a_missing_or_unreadable_text(tmp_path, capsys):
    from asr.cli import main

    out = tmp_path / "lexicon.txt"
    assert main(["make-lexicon", str(out), str(tmp_path / "missing.txt")]) == 1
    assert "missing.txt: no such text file" in capsys.readouterr().err
    bad = tmp_path / "lm.txt.gz"
    bad.write_text("not gzip\n")
    assert main(["make-lexicon", str(out), str(bad)]) == 1
    assert "lm.txt.gz: not readable" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n42\n")
    assert main(["make-lexicon", str(out), str(empty)]) == 1
    assert "no word to put into a lexicon" in capsys.readouterr().err
    assert not out.exists()
