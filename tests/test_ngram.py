"""`asr make-ngram`: Kneser-Ney n-grams as KenLM reads them, and the word n-gram inside a lexicon beam search."""

import gzip
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from flashlight.lib.text.decoder.kenlm import KenLM
from flashlight.lib.text.dictionary import Dictionary

from asr.decoding.beam import BeamSearch
from asr.decoding.config import DecodeSettings
from asr.ngram import UNK, arpa_unigrams, make_ngram, ngram_unit, perplexity
from test_lexicon import TOK, _emissions, _lexicon, _spell


def _text(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _kenlm_sum(arpa, vocab: list[str], history: list[str]) -> float:
    """sum over every next symbol (the vocabulary, <unk> and the sentence end) of P(symbol | history), by KenLM."""
    dictionary = Dictionary(vocab + [UNK])
    lm = KenLM(str(arpa), dictionary)
    state = lm.start(False)
    for w in history:
        state, _ = lm.score(state, dictionary.get_index(w))
    total = sum(10 ** lm.score(state, dictionary.get_index(w))[1] for w in vocab + [UNK])
    return total + 10 ** lm.finish(state)[1]


def test_kneser_ney_probabilities_by_hand_and_as_kenlm_reads_them(tmp_path):
    """Bigram on "THE CAT" x2 + "CAT" (too few counts to estimate discounts: 0.5 / 1 / 1.5). Continuation counts:
    THE 1, CAT 2, </s> 1 -> P(THE) = 0.5/4 + 0.5/4 = .25 (gamma 2/4 over 4 symbols with <unk>); P(CAT) = .375;
    P(THE|<s>) = 1/3 + .5 * .25; P(CAT|THE) = 1/2 + .5 * .375; P(</s>|CAT) = 1.5/3 + .5 * .25."""
    arpa = tmp_path / "ab.arpa"
    make_ngram([_text(tmp_path, "t.txt", ["the cat", "The Cat.", "cat", ""])], arpa, order=2)
    expected = (1 / 3 + 0.125) * (0.5 + 0.5 * 0.375) * (0.5 + 0.125)
    ppl = perplexity(arpa, [_text(tmp_path, "d.txt", ["the cat"])])
    assert ppl.perplexity == pytest.approx(expected ** (-1 / 3), rel=1e-5)
    assert (ppl.symbols, ppl.oov, ppl.sentences) == (3, 0, 1)


@pytest.mark.parametrize("order", [2, 3, 5])
def test_every_context_distribution_sums_to_one(tmp_path, order):
    words = "THE CAT SAT ON A MAT DOG RAN FAR AWAY AND THEN CAME BACK HOME".split()
    g = torch.Generator().manual_seed(order)
    lines = [" ".join(words[i] for i in torch.randint(0, len(words), (int(n),), generator=g))
             for n in torch.randint(1, 9, (300,), generator=g)]
    arpa = tmp_path / "lm.arpa"
    make_ngram([_text(tmp_path, "t.txt", lines)], arpa, order=order)
    for history in ([], ["THE"], ["THE", "CAT"], [UNK, "CAT", "SAT"], ["HOME", "HOME", "HOME"]):
        assert _kenlm_sum(arpa, words, history) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("prune", [[0, 1], [0, 1, 2], [0, 0, 1]])
def test_pruned_models_still_sum_to_one_and_keep_what_arpa_needs(tmp_path, prune):
    """--prune (lmplz's): n-grams counted at most the threshold are left out, their mass goes to the backoff, so
    every context still sums to one; contexts and suffixes of kept n-grams stay; the model gets smaller and fits its
    own text a little worse."""
    words = "THE CAT SAT ON A MAT DOG RAN FAR AWAY AND THEN CAME BACK HOME".split()
    g = torch.Generator().manual_seed(7)
    weights = torch.tensor([1.0 / (i + 1) for i in range(len(words))])  # Zipf: many rare n-grams
    lines = [" ".join(words[i] for i in torch.multinomial(weights, int(n), replacement=True, generator=g))
             for n in torch.randint(1, 9, (300,), generator=g)]
    text = _text(tmp_path, "t.txt", lines)
    full = make_ngram([text], tmp_path / "full.arpa", order=3)
    lm = make_ngram([text], tmp_path / "pruned.arpa", order=3, prune=prune)
    thresholds = (prune + [prune[-1]] * 3)[:3]
    assert len(lm.prob[0]) == len(full.prob[0])  # unigrams stay
    for n in (1, 2):
        if thresholds[n]:
            assert len(lm.prob[n]) < len(full.prob[n])
    for gram in lm.prob[2]:  # what KenLM needs of a kept trigram
        assert gram[:-1] in lm.prob[1] and gram[1:] in lm.prob[1]
    for history in ([], ["THE"], ["HOME"], ["THE", "CAT"], ["HOME", "HOME"], ["CAME", "BACK"], [UNK, "CAT", "SAT"]):
        assert _kenlm_sum(tmp_path / "pruned.arpa", words, history) == pytest.approx(1.0, abs=1e-4)
    own = perplexity(tmp_path / "pruned.arpa", [text]).perplexity
    assert perplexity(tmp_path / "full.arpa", [text]).perplexity < own < 2 * perplexity(tmp_path / "full.arpa",
                                                                                         [text]).perplexity


def test_prune_thresholds_are_checked_before_counting(tmp_path):
    text = _text(tmp_path, "t.txt", ["the cat sat"])
    for bad in ([1, 1], [0, 2, 1], [0, -1], [0, 1, 1, 1]):
        with pytest.raises(ValueError, match="--prune"):
            make_ngram([text], tmp_path / "x.arpa", order=3, prune=bad)
    assert not (tmp_path / "x.arpa").exists()
    # trigrams: <s> THE CAT, THE CAT SAT, CAT SAT </s> twice, the rest once; bigrams: <s> THE (raw count) 2, the
    # rest once (continuation counts), kept where a kept trigram needs them (THE CAT, CAT SAT, SAT </s>)
    text = _text(tmp_path, "t.txt", ["the cat sat", "the cat sat", "a dog ran"])
    out = subprocess.run([sys.executable, "-m", "asr.cli", "make-ngram", str(tmp_path / "p.arpa"), str(text),
                          "--prune", "0", "1"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "word 3-gram, 9 1-grams, 4 2-grams, 3 3-grams" in out.stdout


def test_units_order_and_bad_input(tmp_path):
    text = _text(tmp_path, "t.txt", ["the cat sat", "a cat ran"])
    lm = make_ngram([text], tmp_path / "w.arpa", order=3)
    assert lm.order == 3 and ("CAT", "SAT") in lm.prob[1] and ngram_unit(tmp_path / "w.arpa") == "word"
    lm = make_ngram([text], tmp_path / "c.arpa", order=5, unit="char")
    assert ("C", "A", "T", "|", "S") in lm.prob[4] and ngram_unit(tmp_path / "c.arpa") == "char"
    (tmp_path / "lm.bin").write_bytes(b"mmap lm http://kheafield.com/code format version 5\n\0\0")
    with pytest.raises(ValueError, match="lm.bin: not a readable KenLM model"):  # a binary is asked, not guessed
        ngram_unit(tmp_path / "lm.bin")
    gz = tmp_path / "t.txt.gz"
    gz.write_bytes(gzip.compress(b"the cat sat\n"))
    assert ("THE", "CAT", "SAT") in make_ngram([gz], tmp_path / "g.arpa").prob[2]
    with pytest.raises(FileNotFoundError, match="none.txt"):
        make_ngram([tmp_path / "none.txt"], tmp_path / "x.arpa")
    with pytest.raises(ValueError, match="empty.txt: no text"):
        make_ngram([_text(tmp_path, "empty.txt", ["", "..."])], tmp_path / "x.arpa")
    with pytest.raises(ValueError, match="order"):
        make_ngram([text], tmp_path / "x.arpa", order=1)
    with pytest.raises(ValueError, match="unit"):
        make_ngram([text], tmp_path / "x.arpa", unit="phone")
    assert not (tmp_path / "x.arpa").exists()


KENLM_BINARIES = Path(__file__).parent / "data" / "kenlm"  # build_binary of FIXTURE_TEXT's n-grams (data/README.md)
FIXTURE_TEXT = ["the cat sat", "a cat sat on the mat", "the hat"]


def test_kenlm_binaries_are_word_or_character_ngrams_as_their_arpa(tmp_path):
    """A KenLM binary's vocabulary cannot be listed: ngram_unit asks the model. Binaries made by KenLM's
    build_binary from `asr make-ngram`'s ARPA files are the units they were counted in and score as the ARPA does."""
    text = _text(tmp_path, "t.txt", FIXTURE_TEXT)
    make_ngram([text], tmp_path / "words.arpa", order=3)
    make_ngram([text], tmp_path / "chars.arpa", order=5, unit="char")
    for unit in ("word", "char"):
        binary, arpa = KENLM_BINARIES / f"{unit}s.binary", tmp_path / f"{unit}s.arpa"
        assert not binary.read_bytes().startswith(b"\\data\\")
        assert ngram_unit(binary) == ngram_unit(arpa) == unit
        dev = _text(tmp_path, "dev.txt", ["the cat sat on the hat", "a mat"])
        assert perplexity(binary, [dev], unit).perplexity == pytest.approx(perplexity(arpa, [dev]).perplexity,
                                                                            rel=1e-5)
        assert perplexity(binary, [dev]).unit == unit


def test_a_word_kenlm_binary_in_the_lexicon_beam(tmp_path):
    """The word binary chooses CAT over HAT as its ARPA does (test below); before units were asked of binaries
    it counted as a character n-gram and was scored per character, against symbols it does not have."""
    lexicon = _lexicon(tmp_path, ["CAT", "HAT", "SAT", "ON", "ZEBRA"])
    lp = _emissions(_spell("HAT SAT", near={"H": "C"}))
    settings = DecodeSettings(method="beam", beam_size=8, lexicon=lexicon,
                              ngram=str(KENLM_BINARIES / "words.binary"), ngram_weight=2.0)
    best = BeamSearch(TOK, settings).decode_one(lp)[0]
    assert best.text == "CAT SAT"
    arpa = tmp_path / "words.arpa"
    make_ngram([_text(tmp_path, "t.txt", FIXTURE_TEXT)], arpa, order=3)
    from_arpa = BeamSearch(TOK, replace(settings, ngram=str(arpa))).decode_one(lp)[0]
    assert best.ngram == pytest.approx(from_arpa.ngram, abs=1e-5) and best.score == pytest.approx(from_arpa.score)
    with pytest.raises(ValueError, match="words.binary: a word n-gram needs a lexicon"):
        BeamSearch(TOK, DecodeSettings(method="beam", ngram=str(KENLM_BINARIES / "words.binary")))


def test_make_ngram_command_writes_arpa_and_prints_perplexity(tmp_path):
    train = _text(tmp_path, "train.txt", ["the cat sat on the mat", "the dog sat"] * 5)
    dev = _text(tmp_path, "dev.txt", ["the cat sat", "a zebra sat"])
    out = subprocess.run([sys.executable, "-m", "asr.cli", "make-ngram", str(tmp_path / "lm.arpa"), str(train),
                          "--order", "2", "--dev", str(dev)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "word 2-gram, 9 1-grams" in out.stdout  # THE CAT SAT ON MAT DOG </s> <s> <unk>
    assert "(8 words incl. sentence ends, 2 out of vocabulary)" in out.stdout
    ppl = float(out.stdout.split("perplexity on ")[1].split(": ")[1].split()[0])
    assert ppl == pytest.approx(perplexity(tmp_path / "lm.arpa", [dev]).perplexity, rel=1e-3)
    assert (tmp_path / "lm.arpa").read_text().startswith("\\data\\\nngram 1=9\nngram 2=")


def test_a_word_ngram_chooses_between_listed_words_and_needs_a_lexicon(tmp_path):
    """"?AT SAT": CAT and HAT sound alike here (C a close second to H); the word n-gram saw "CAT SAT" only."""
    arpa = tmp_path / "words.arpa"
    make_ngram([_text(tmp_path, "t.txt", ["the cat sat", "a cat sat on the mat", "the hat"])], arpa, order=3)
    lexicon = _lexicon(tmp_path, ["CAT", "HAT", "SAT", "ON", "ZEBRA"])
    lp = _emissions(_spell("HAT SAT", near={"H": "C"}))
    plain = BeamSearch(TOK, DecodeSettings(method="beam", beam_size=8, lexicon=lexicon)).decode_one(lp)[0]
    settings = DecodeSettings(method="beam", beam_size=8, lexicon=lexicon, ngram=str(arpa), ngram_weight=2.0)
    with_lm = BeamSearch(TOK, settings).decode_one(lp)[0]
    assert (plain.text, with_lm.text) == ("HAT SAT", "CAT SAT")
    # the LM score is the word n-gram's: log10 P(CAT|<s>) + log10 P(SAT|<s> CAT) + log10 P(</s>|CAT SAT)
    dictionary = Dictionary(["CAT", "SAT"])
    lm = KenLM(str(arpa), dictionary)
    s, a = lm.score(lm.start(False), 0)
    s, b = lm.score(s, 1)
    assert with_lm.ngram == pytest.approx(a + b + lm.finish(s)[1], abs=1e-4)
    assert math.isfinite(with_lm.score) and len(with_lm.path) == lp.shape[0]
    with pytest.raises(ValueError, match="words.arpa: a word n-gram needs a lexicon"):
        BeamSearch(TOK, DecodeSettings(method="beam", ngram=str(arpa), ngram_weight=1.0))


def test_a_word_ngram_from_the_command_line_tuned_into_the_package(tiny_corpus, tmp_path):
    """make-ngram -> evaluate / transcribe with `--ngram --lexicon` -> tune stores the n-gram, the lexicon and the
    weights, and the package decodes with them from then on; without a lexicon the error says what is missing."""
    import shutil
    from pathlib import Path

    import yaml
    from test_lm import run

    pkg = tmp_path / "pkg"
    shutil.copytree(Path(__file__).parent / "data" / "small_model", pkg)
    dev = tiny_corpus / "LibriSpeech" / "dev-clean-2"
    lines = [line.split(" ", 1)[1] for f in dev.rglob("*.trans.txt") for line in f.read_text().splitlines()]
    words = {w for line in lines for w in line.split()}
    lexicon = _text(tmp_path, "words.txt", sorted(words))
    arpa = tmp_path / "words.arpa"
    made = run("make-ngram", arpa, _text(tmp_path, "lm.txt", lines), "--order", "3")
    assert "word 3-gram" in made.stdout and arpa.is_file()
    audio = sorted(dev.rglob("*.flac"))[0]
    listed = run("transcribe", pkg, audio, "--ngram", arpa, "--lexicon", lexicon, "--ngram-weight", "1").stdout
    assert listed.strip() and set(listed.split()) <= words
    unlisted = run("transcribe", pkg, audio, "--ngram", arpa, check=False)
    assert unlisted.returncode == 1 and "words.arpa: a word n-gram needs a lexicon" in unlisted.stderr

    def wer(*extra) -> float:
        out = run("evaluate", pkg, dev, "--lexicon", lexicon, "--output-dir", tmp_path / "eval", *extra).stdout
        return float(out.split("[beam]: WER ")[1].split("%")[0])

    # an n-gram of the very sentences spoken (this checks the plumbing, not a real LM): fewer word errors
    assert wer("--ngram", arpa, "--ngram-weight", "2") < wer()
    run("tune", pkg, "--ngram", arpa, "--lexicon", lexicon, "--data", dev, "--ngram-weights", "1", "2",
        "--word-bonuses", "0", "--beam-sizes", "8")
    decode = yaml.safe_load((pkg / "config.yaml").read_text())["decode"]
    assert decode["method"] == "beam" and decode["ngram"] == "ngram.arpa" and decode["lexicon"] == "lexicon.txt"
    assert (pkg / "ngram.arpa").read_text() == arpa.read_text()  # the package carries it
    weight = decode["ngram_weight"]
    assert weight in (1.0, 2.0)
    expected = run("transcribe", pkg, audio, "--ngram", arpa, "--lexicon", lexicon, "--ngram-weight", str(weight))
    assert run("transcribe", pkg, audio).stdout == expected.stdout

    # --if-better: the n-gram's weights are stored beside the LSTM LM's, and it becomes the package's decoding only
    # if it beats the recorded dev WER (here a made-up record: 0% cannot be beaten, 900% is beaten by anything)
    from asr.package import update_decode_settings

    lstm = {"method": "beam_lm", "fusion": True, "lm_weight": 0.7, "word_bonus": 0.3, "tuned_on": str(dev),
            "lm": {"path": "lstm", "sha256": "0" * 64}}
    tune = ["tune", pkg, "--ngram", arpa, "--lexicon", lexicon, "--data", dev, "--ngram-weights", "1.5",
            "--word-bonuses", "-1", "--beam-sizes", "8", "--if-better"]
    update_decode_settings(pkg, {**lstm, "tuned_wer": 0.0})
    assert "kept the package's decoding (beam_lm, dev WER 0.00%)" in run(*tune).stdout
    decode = yaml.safe_load((pkg / "config.yaml").read_text())["decode"]
    assert {k: decode[k] for k in lstm} == lstm and decode["tuned_wer"] == 0.0
    assert (decode["ngram_weight"], decode["ngram_word_bonus"]) == (1.5, -1.0)
    update_decode_settings(pkg, {**lstm, "tuned_wer": 9.0})
    assert "written into" in run(*tune).stdout
    decode = yaml.safe_load((pkg / "config.yaml").read_text())["decode"]
    assert decode["method"] == "beam" and decode["tuned_wer"] < 9.0 and decode["ngram_lm"]["path"] == str(arpa)
    assert (decode["fusion"], decode["lm_weight"], decode["word_bonus"]) == (True, 0.7, 0.3)  # the LSTM LM's stay
    assert decode["lm"] == lstm["lm"]  # and its record: `--lm` checks the LSTM LM against it, not the n-gram


def test_a_compressed_arpa_scores_and_decodes_as_the_plain_one(tmp_path):
    """`asr make-ngram OUT.arpa.gz` writes the ARPA gzip-compressed (the shipped model's n-gram: a quarter of the
    size), the same bytes each time; perplexity, the unit and the lexicon beam read it as the plain file."""
    from asr.decoding.bundle import ngram_name

    text = _text(tmp_path, "t.txt", FIXTURE_TEXT)
    plain, packed = tmp_path / "words.arpa", tmp_path / "words.arpa.gz"
    make_ngram([text], plain, order=3)
    make_ngram([text], packed, order=3)
    first = packed.read_bytes()
    assert first.startswith(b"\x1f\x8b") and gzip.decompress(first) == plain.read_bytes()
    make_ngram([text], packed, order=3)
    assert packed.read_bytes() == first  # no time or name in the gzip header
    assert arpa_unigrams(packed) == arpa_unigrams(plain) and ngram_unit(packed) == "word"
    dev = _text(tmp_path, "dev.txt", ["the cat sat on the hat", "a mat"])
    a, b = perplexity(plain, [dev]), perplexity(packed, [dev])
    assert a.perplexity == pytest.approx(b.perplexity, rel=1e-6) and a.oov == b.oov >= 0
    lexicon = _lexicon(tmp_path, ["CAT", "HAT", "SAT", "ON", "ZEBRA"])
    lp = _emissions(_spell("HAT SAT", near={"H": "C"}))
    settings = DecodeSettings(method="beam", beam_size=8, lexicon=lexicon, ngram=str(packed), ngram_weight=2.0)
    best = BeamSearch(TOK, settings).decode_one(lp)[0]
    plain_best = BeamSearch(TOK, replace(settings, ngram=str(plain))).decode_one(lp)[0]
    assert best.text == plain_best.text and best.ngram == pytest.approx(plain_best.ngram, abs=1e-5)
    assert ngram_name(packed) == "ngram.arpa.gz" and ngram_name(plain) == "ngram.arpa"
