"""The LM and decoding commands end to end: `asr lm train` / `perplexity`, `asr tune` (LSTM LM, n-gram, lexicon)
writing into the package, `asr evaluate` with several methods, packages that carry their LM, lexicon and n-gram."""

import json
import subprocess
import sys

import pytest
import torch
import yaml
from test_lm import _write, run

from asr.decoding.beam import BeamSearch
from asr.decoding.config import DecodeSettings
from asr.lm_package import load_lm_package, save_lm_package
from asr.text import Tokenizer


@pytest.fixture(scope="module")
def lm_setup(tiny_corpus, tiny_manifests, tmp_path_factory):
    """A tiny acoustic model and a tiny LM, trained through the CLI."""
    work = tmp_path_factory.mktemp("lm")
    lines = (tiny_corpus / "lm-text.txt").read_text().splitlines()[:600]
    text = _write(work / "lm.txt", lines)
    run("lm", "train", f"train_text={text}", f"exp_dir={work / 'lmexp'}", "lm.hidden_size=32", "lm.embed_dim=16",
        "trainer.max_epochs=2", "trainer.log_every_n_steps=1")
    run("train", "experiment=tiny", f"data.manifest_dir={tiny_manifests}", f"exp_dir={work / 'am'}")
    return work


def test_lm_train_and_perplexity_command(lm_setup):
    summary = json.loads((lm_setup / "lmexp" / "lm_summary.json").read_text())
    assert summary["dev_perplexity"] > 1
    out = run("lm", "perplexity", lm_setup / "lmexp" / "lm", lm_setup / "lm.txt")
    assert "perplexity" in out.stdout and "bits per character" in out.stdout
    bad = run("lm", "perplexity", lm_setup / "missing", lm_setup / "lm.txt", check=False)
    assert bad.returncode == 1 and "missing" in bad.stderr
    card = (lm_setup / "lmexp" / "lm" / "README.md").read_text()  # the LM's model card, and `asr info` prints it
    assert "character LSTM language model" in card and f"{summary['dev_perplexity']:.4g}" in card
    assert run("info", lm_setup / "lmexp" / "lm").stdout.strip() == card.strip()


def test_tune_prints_table_and_writes_package(lm_setup, tiny_corpus):
    model = lm_setup / "am" / "model"
    out = run("tune", model, "--lm", lm_setup / "lmexp" / "lm", "--data", tiny_corpus / "LibriSpeech" / "dev-clean-2",
              "--lm-weights", "0", "0.5", "--word-bonuses", "0", "1", "--beam-sizes", "2", "4",
              "--fusion-lm-weights", "0.3", "0.6",
              "--output", lm_setup / "tune.tsv")
    assert "best: " in out.stdout and "greedy" in out.stdout
    rows = [r.split("\t") for r in (lm_setup / "tune.tsv").read_text().splitlines()]
    # header, greedy, per beam: plain beam + 4 rescoring points; at the widest beam (4): 2 fusion points and the
    # beam without LM at the 5 default word bonuses besides 0
    assert len(rows) == 1 + 1 + 2 * (1 + 4) + 2 + 5
    plain = [(float(r[3]), float(r[4])) for r in rows if r[0] == "beam" and r[1] == "4"]
    assert sorted(b for b, _ in plain) == [-4.0, -3.0, -2.0, -1.0, -0.5, 0.0]
    assert [(r[0], r[1], r[2]) for r in rows if r[0] == "beam_lm_fusion"] == [("beam_lm_fusion", "4", "0.3"),
                                                                             ("beam_lm_fusion", "4", "0.6")]
    decode = yaml.safe_load((model / "config.yaml").read_text())["decode"]
    # the written setting is one of the table's LM rows, and no LM row of the table has a lower WER
    kind = "beam_lm_fusion" if decode["fusion"] else "beam_lm"
    chosen = [r for r in rows if r[0] == kind and int(r[1]) == decode["beam_size"] and
              float(r[2]) == decode["lm_weight"] and float(r[3]) == decode["word_bonus"]]
    assert decode["method"] == "beam_lm" and len(chosen) == 1
    assert float(chosen[0][4]) == pytest.approx(decode["tuned_wer"], abs=1e-4)
    # the beam without an LM keeps its own best word bonus (`--decode beam` uses it)
    assert min(w for _, w in plain) == pytest.approx(dict(plain)[decode["beam_word_bonus"]], abs=1e-9)
    assert all(float(r[4]) >= float(chosen[0][4]) for r in rows if r[0].startswith("beam_lm"))
    assert "alpha" not in decode and "beta" not in decode  # one name per idea


def test_evaluate_several_decoding_methods(lm_setup, tiny_corpus, tmp_path):
    out = run("evaluate", lm_setup / "am" / "model", tiny_corpus / "LibriSpeech" / "test-clean-2",
              "--decode", "greedy", "beam", "beam_lm", "--lm", lm_setup / "lmexp" / "lm", "--output-dir", tmp_path)
    for method in ("greedy", "beam", "beam_lm"):
        assert f"test-clean-2 [{method}]: WER" in out.stdout
        assert (tmp_path / f"test-clean-2.{method}.summary.json").is_file()
    ranking = (tmp_path / "test-clean-2.summary.tsv").read_text().splitlines()
    assert ranking[0].split("\t")[:2] == ["rank", "decode"] and len(ranking) == 4
    no_lm = run("evaluate", lm_setup / "am" / "model", tiny_corpus / "LibriSpeech" / "test-clean-2", "--decode",
                "beam_lm", "--output-dir", tmp_path, check=False)
    assert no_lm.returncode == 1 and "needs a language model" in no_lm.stderr


def _arpa(path, favoured: str):
    """A minimal character bigram model (KenLM needs order >= 2) that strongly prefers one letter."""
    symbols = ["<s>", "</s>", "<unk>", "|", "'", *[chr(c) for c in range(65, 91)]]
    lines = ["\\data\\", f"ngram 1={len(symbols)}", "ngram 2=1", "", "\\1-grams:"]
    for s in symbols:
        logp = -99 if s == "<s>" else (-0.05 if s == favoured else -3.0)
        lines.append(f"{logp}\t{s}\t0")
    lines += ["", "\\2-grams:", f"-0.05\t<s> {favoured}", "", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return path


def test_kenlm_ngram_inside_the_beam_and_bad_ngram_file(tmp_path):
    torch.manual_seed(0)
    tok = Tokenizer()
    lp = torch.log_softmax(torch.randn(120, len(tok)) * 1.5, dim=-1)
    arpa = _arpa(tmp_path / "e.arpa", "E")
    plain = BeamSearch(tok, DecodeSettings(method="beam", beam_size=16)).decode_one(lp)[0]
    biased = BeamSearch(tok, DecodeSettings(method="beam", beam_size=16, ngram=str(arpa),
                                            ngram_weight=3.0)).decode_one(lp)[0]
    assert biased.text.count("E") / max(1, len(biased.text)) > plain.text.count("E") / max(1, len(plain.text))
    assert biased.ngram < 0
    (tmp_path / "bad.arpa").write_text("this is not an ARPA file\n")
    with pytest.raises(ValueError, match="bad.arpa"):
        BeamSearch(tok, DecodeSettings(method="beam", ngram=str(tmp_path / "bad.arpa"), ngram_weight=1.0))
    with pytest.raises(FileNotFoundError, match="none.arpa"):
        BeamSearch(tok, DecodeSettings(method="beam", ngram=str(tmp_path / "none.arpa")))


def test_a_package_may_carry_its_lm(lm_setup, tmp_path):
    """models/en ships its LM in lm/: used by default, not with --decode greedy / beam."""
    import shutil

    from asr.transcribe import load_model

    pkg = tmp_path / "pkg"
    shutil.copytree(lm_setup / "am" / "model", pkg)
    assert load_model(pkg).lm is None and load_model(pkg).settings.method == "greedy"
    shutil.copytree(lm_setup / "lmexp" / "lm", pkg / "lm")
    with_lm = load_model(pkg)
    assert with_lm.lm is not None and with_lm.settings.method == "beam_lm"
    for method in ("greedy", "beam"):
        plain = load_model(pkg, decode=method)
        assert plain.lm is None and plain.settings.method == method
    with_ngram = load_model(pkg, ngram=_arpa(tmp_path / "e.arpa", "E"))  # one LM in the beam: the n-gram asked for
    assert with_ngram.lm is None and with_ngram.settings.method == "beam" and with_ngram.settings.ngram


def test_ngram_from_the_command_line_and_tuned_into_the_package(tiny_corpus, tmp_path):
    """`--ngram` on transcribe / evaluate / tune: a KenLM character n-gram the user brings, no config editing; tune
    searches its weight and stores it (with the n-gram's path and hash) instead of erasing it."""
    import shutil
    from pathlib import Path

    from asr.transcribe import file_digest

    pkg = tmp_path / "pkg"
    shutil.copytree(Path(__file__).parent / "data" / "small_model", pkg)
    arpa = _arpa(tmp_path / "e.arpa", "E")
    audio = sorted((tiny_corpus / "LibriSpeech" / "dev-clean-2").rglob("*.flac"))[0]
    plain = run("transcribe", pkg, audio).stdout.strip()
    biased = run("transcribe", pkg, audio, "--ngram", arpa, "--ngram-weight", "4").stdout.strip()
    assert biased.count("E") / max(len(biased), 1) > plain.count("E") / max(len(plain), 1)
    out = run("evaluate", pkg, tiny_corpus / "LibriSpeech" / "dev-clean-2", "--ngram", arpa, "--output-dir",
              tmp_path / "eval")
    assert "dev-clean-2 [beam]: WER" in out.stdout
    tuned = run("tune", pkg, "--ngram", arpa, "--data", tiny_corpus / "LibriSpeech" / "dev-clean-2",
                "--ngram-weights", "0", "3", "--word-bonuses", "0", "--beam-sizes", "4")
    assert "n-gram in the beam" in tuned.stdout or "N-best" not in tuned.stdout
    decode = yaml.safe_load((pkg / "config.yaml").read_text())["decode"]
    assert decode["method"] == "beam" and decode["ngram"] == "ngram.arpa"
    assert decode["ngram_weight"] in (0.0, 3.0) and decode["ngram_lm"]["sha256"] == file_digest(arpa)
    # the tuned n-gram is what the package now decodes with, without --ngram
    again = run("transcribe", pkg, audio).stdout.strip()
    weight = decode["ngram_weight"]
    expected = run("transcribe", pkg, audio, "--ngram", arpa, "--ngram-weight", str(weight)).stdout.strip()
    assert again == expected
    missing = run("tune", pkg, "--data", tiny_corpus / "LibriSpeech" / "dev-clean-2", check=False)
    assert missing.returncode == 1 and "--lm" in missing.stderr and "--ngram" in missing.stderr


def test_tune_records_its_lm_and_warns_about_another(lm_setup, tiny_corpus, tmp_path, caplog):
    import shutil

    from asr.transcribe import file_digest, load_model

    model = tmp_path / "am"
    shutil.copytree(lm_setup / "am" / "model", model)
    lm = lm_setup / "lmexp" / "lm"
    run("tune", model, "--lm", lm, "--data", tiny_corpus / "LibriSpeech" / "dev-clean-2", "--lm-weights", "0.5",
        "--word-bonuses", "0", "--beam-sizes", "2")
    decode = yaml.safe_load((model / "config.yaml").read_text())["decode"]
    assert decode["lm"]["sha256"] == file_digest(lm) and decode["lm"]["path"] == str(lm)
    card = (model / "README.md").read_text()
    assert "beam_lm" in card and decode["lm"]["sha256"] in card  # the model card follows the tuned settings
    other = tmp_path / "other_lm"
    package = load_lm_package(lm)
    with torch.no_grad():
        next(package.model.parameters()).add_(0.01)
    save_lm_package(package, other)
    with caplog.at_level("WARNING"):
        load_model(model, lm=lm)
    assert "tuned with another LM" not in caplog.text
    with caplog.at_level("WARNING"):
        load_model(model, lm=other)
    assert "tuned with another LM" in caplog.text
    shutil.rmtree(other)
    # an n-gram tuned as the package's decoding: its record is its own, so the LSTM LM is still the one tuned for
    # beam_lm; tuning the LSTM LM again keeps the n-gram's file and weights for `--decode beam`
    arpa = _arpa(tmp_path / "e.arpa", "E")
    run("tune", model, "--ngram", arpa, "--data", tiny_corpus / "LibriSpeech" / "dev-clean-2", "--ngram-weights",
        "1.5", "--word-bonuses", "0", "--beam-sizes", "2")
    decode = yaml.safe_load((model / "config.yaml").read_text())["decode"]
    assert decode["method"] == "beam" and decode["ngram_lm"]["sha256"] == file_digest(arpa)
    assert decode["lm"]["sha256"] == file_digest(lm)
    caplog.clear()
    with caplog.at_level("WARNING"):
        load_model(model, lm=lm)
    assert "tuned with another LM" not in caplog.text
    run("tune", model, "--lm", lm, "--data", tiny_corpus / "LibriSpeech" / "dev-clean-2", "--lm-weights", "0.5",
        "--word-bonuses", "0", "--beam-sizes", "2")
    decode = yaml.safe_load((model / "config.yaml").read_text())["decode"]
    assert decode["method"] == "beam_lm" and decode["ngram"] == "ngram.arpa" and decode["ngram_weight"] == 1.5
    assert decode["ngram_lm"]["sha256"] == file_digest(arpa) and decode["lm"]["sha256"] == file_digest(lm)
    assert load_model(model, decode="beam").settings.ngram == str(model / "ngram.arpa")


def test_lexicon_from_the_command_line_and_tuned_into_the_package(tiny_corpus, tmp_path):
    """`--lexicon` on transcribe / evaluate / tune: only listed words come out; tune copies the word list into the
    package, which then decodes with it wherever it is copied, and says so when the copy is gone."""
    import shutil
    from pathlib import Path

    pkg = tmp_path / "pkg"
    shutil.copytree(Path(__file__).parent / "data" / "small_model", pkg)
    dev = tiny_corpus / "LibriSpeech" / "dev-clean-2"
    words = {w for f in dev.rglob("*.trans.txt") for line in f.read_text().splitlines() for w in line.split()[1:]}
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("\n".join(sorted(words)) + "\n")
    audio = sorted(dev.rglob("*.flac"))[0]
    listed = run("transcribe", pkg, audio, "--lexicon", lexicon).stdout.strip()
    assert listed and set(listed.split()) <= words
    out = run("evaluate", pkg, dev, "--lexicon", lexicon, "--output-dir", tmp_path / "eval")
    assert "dev-clean-2 [beam]: WER" in out.stdout
    summary = json.loads((tmp_path / "eval" / "dev-clean-2.beam.summary.json").read_text())
    assert summary["decode"]["lexicon"] == str(lexicon)
    hyps = [line.split("\t")[5] for line in (tmp_path / "eval" / "dev-clean-2.beam.per_utt.tsv").read_text()
            .splitlines()[1:]]
    assert all(set(h.split()) <= words for h in hyps)
    arpa = _arpa(tmp_path / "e.arpa", "E")
    run("tune", pkg, "--ngram", arpa, "--lexicon", lexicon, "--data", dev,
        "--ngram-weights", "0", "--word-bonuses", "0", "--beam-sizes", "4")
    decode = yaml.safe_load((pkg / "config.yaml").read_text())["decode"]
    assert decode["lexicon"] == "lexicon.txt" and (pkg / "lexicon.txt").read_text() == lexicon.read_text()
    assert decode["ngram"] == "ngram.arpa" and (pkg / "ngram.arpa").read_text() == arpa.read_text()
    moved = tmp_path / "moved"  # the package carries its lexicon and n-gram: a copy elsewhere decodes the same
    shutil.copytree(pkg, moved)
    lexicon.unlink()
    arpa.unlink()
    tuned = run("transcribe", moved, audio)
    assert set(tuned.stdout.split()) <= words and "is not there" not in tuned.stderr
    shipped = tmp_path / "shipped"  # tools/ship_model.py takes the lexicon along
    subprocess.run([sys.executable, Path(__file__).parent.parent / "tools" / "ship_model.py", moved, "--output-dir",
                    shipped, "--training-data", "tiny", "--limitations", "a test"], check=True, capture_output=True)
    assert yaml.safe_load((shipped / "config.yaml").read_text())["decode"]["lexicon"] == "lexicon.txt"
    assert (shipped / "lexicon.txt").read_text() == (moved / "lexicon.txt").read_text()
    assert yaml.safe_load((shipped / "config.yaml").read_text())["decode"]["ngram"] == "ngram.arpa"
    assert (shipped / "ngram.arpa").read_text() == (moved / "ngram.arpa").read_text()
    (moved / "lexicon.txt").unlink()
    gone = run("transcribe", moved, audio)
    assert gone.returncode == 0 and "lexicon.txt is not there" in gone.stderr
