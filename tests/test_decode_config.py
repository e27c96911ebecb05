"""The `decode` config group (conf/decode): how `asr train` decodes its dev set, and what the package it exports
decodes with (its lexicon, n-gram and LSTM LM copied in); `asr export` of a package takes those files along."""

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from test_lexicon import TOK, _emissions, _lexicon, _spell
from test_training import tiny_cfg

from asr.cli import main
from asr.decoding.bundle import decode_config_settings, write_decoding
from asr.lm_package import LMPackage, save_lm_package
from asr.models.lm import CharLM, LMConfig
from asr.training.ctc_system import CTCSystem
from asr.training.train import run_training
from asr.transcribe import load_model

SMALL_MODEL = Path(__file__).parent / "data" / "small_model"
MODEL = {"num_layers": 1, "hidden_size": 8, "subsampling_factor": 1, "dropout": 0.0}


def _lm(path: Path) -> Path:
    torch.manual_seed(0)
    save_lm_package(LMPackage(CharLM(LMConfig(embed_dim=16, hidden_size=16, tie_weights=True)), TOK, {}), path)
    return path


def test_dev_set_decoding_follows_the_decode_config(tmp_path):
    """Greedy spells the near miss; a beam kept to a lexicon (decode=beam decode.lexicon=...) gives the word."""
    log_probs = _emissions(_spell("KAT SAT", near={"K": "C"}))[None]  # (batch, time, vocab)
    lengths = torch.tensor([log_probs.shape[1]])
    greedy = CTCSystem(MODEL, {"name": "adam", "lr": 1e-3}, TOK.tokens)
    assert greedy.decode(log_probs, lengths) == ["KAT SAT"]
    lexicon = _lexicon(tmp_path, ["CAT", "SAT"])
    beam = CTCSystem(MODEL, {"name": "adam", "lr": 1e-3}, TOK.tokens, decode={"method": "beam", "lexicon": lexicon})
    assert beam.decode(log_probs, lengths) == ["CAT SAT"]
    assert beam.hparams["decode"]["lexicon"] == lexicon  # in the checkpoints' hyper-parameters


def test_bad_decode_configs_are_errors_that_name_the_setting(tmp_path):
    with pytest.raises(ValueError, match="decode.lm=PATH"):
        decode_config_settings({"method": "beam_lm"})
    with pytest.raises(FileNotFoundError, match="nowhere.txt: no such lexicon file"):
        decode_config_settings({"method": "beam", "lexicon": str(tmp_path / "nowhere.txt")})
    with pytest.raises(FileNotFoundError, match="not an LM package"):
        decode_config_settings({"method": "beam_lm", "lm": str(tmp_path)})
    with pytest.raises(ValueError, match="unknown setting.*beam_width"):
        decode_config_settings({"method": "beam", "beam_width": 4})
    with pytest.raises(ValueError, match="unknown decoding method"):
        decode_config_settings({"method": "viterbi"})


def test_a_wrong_decode_config_stops_training_before_it_starts(tiny_manifests, tmp_path):
    with pytest.raises(ValueError, match="decode.lm"):
        run_training(tiny_cfg(tiny_manifests, tmp_path / "exp", "decode=beam_lm"))
    assert not (tmp_path / "exp" / "checkpoints").exists()


def test_training_with_decode_beam_lm_exports_a_package_that_decodes_with_its_own_lm(tiny_manifests, tiny_corpus,
                                                                                    tmp_path, caplog):
    lm = _lm(tmp_path / "lm")
    lexicon = _lexicon(tmp_path, ["THE", "A", "OF", "AND"])
    exp = tmp_path / "exp"
    pkg = run_training(tiny_cfg(tiny_manifests, exp, "trainer.max_epochs=1", "decode=beam_lm", f"decode.lm={lm}",
                                f"decode.lexicon={lexicon}", "decode.beam_size=4", "decode.lm_weight=0.3"))
    config = yaml.safe_load((pkg / "config.yaml").read_text())
    assert config["decode"]["method"] == "beam_lm" and config["decode"]["lm_weight"] == 0.3
    assert config["decode"]["lexicon"] == "lexicon.txt"  # a copy inside the package, named relative to it
    assert (pkg / "lexicon.txt").read_text() == Path(lexicon).read_text()
    assert (pkg / "lm" / "lm.safetensors").read_bytes() == (lm / "lm.safetensors").read_bytes()
    assert config["meta"]["dev_decode"] == "beam_lm"
    assert json.loads((exp / "train_summary.json").read_text())["dev_decode"] == "beam_lm"
    assert "dev WER (beam_lm, at export)" in (pkg / "README.md").read_text()
    # `asr export` of the run's checkpoint gives the same decoding (kept in its hyper-parameters), files included
    assert main(["export", str(exp / "checkpoints" / "last.ckpt"), str(tmp_path / "by_hand")]) == 0
    by_hand = yaml.safe_load((tmp_path / "by_hand" / "config.yaml").read_text())["decode"]
    assert by_hand == config["decode"] and (tmp_path / "by_hand" / "lm" / "lm.safetensors").is_file()
    assert (tmp_path / "by_hand" / "lexicon.txt").read_text() == Path(lexicon).read_text()
    # moved elsewhere, the package still decodes as it was configured: its own LM, its own lexicon
    moved = tmp_path / "moved"
    shutil.move(pkg, moved)
    shutil.rmtree(lm)
    recognizer = load_model(moved)
    assert recognizer.settings.method == "beam_lm" and recognizer.lm is not None
    assert recognizer.settings.lexicon == str(moved / "lexicon.txt")
    words = recognizer.transcribe(next(tiny_corpus.rglob("*.flac"))).text.split()
    assert set(words) <= {"THE", "A", "OF", "AND"}
    # once the LM the run named is gone, a checkpoint exports greedy, and says why
    assert main(["export", str(exp / "checkpoints" / "last.ckpt"), str(tmp_path / "later")]) == 0
    assert yaml.safe_load((tmp_path / "later" / "config.yaml").read_text())["decode"] == {"method": "greedy"}
    assert "decoding greedily" in caplog.text and "not an LM package" in caplog.text


def test_export_of_a_package_takes_its_decoding_files_along(tmp_path, capsys):
    pkg = tmp_path / "pkg"
    shutil.copytree(SMALL_MODEL, pkg)
    ngram = Path(__file__).parent / "data" / "kenlm" / "chars.binary"
    write_decoding(pkg, {"method": "beam", "lexicon": _lexicon(tmp_path, ["CAT"]), "ngram": str(ngram),
                         "ngram_weight": 0.7})
    assert main(["export", str(pkg), str(tmp_path / "out")]) == 0
    out = load_model(tmp_path / "out")
    assert out.settings.method == "beam" and out.settings.ngram_weight == 0.7
    assert out.settings.lexicon == str(tmp_path / "out" / "lexicon.txt")
    assert out.settings.ngram == str(tmp_path / "out" / "ngram.binary")
    assert (tmp_path / "out" / "ngram.binary").read_bytes() == ngram.read_bytes()
