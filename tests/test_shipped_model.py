"""The English model that ships in models/en (`asr transcribe FILE` with no model package): it is there, intact
(its weights' sha256 is checked on load), says what it is, and recognizes speech it was never trained on."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jiwer
import pytest

from asr.package import load_package

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "en"
ASR = [sys.executable, "-m", "asr.cli"]
SENTENCES = ["the weather will be warm and sunny for the rest of the week",
             "please send me the report before the meeting tomorrow morning",
             "she walked to the station and bought a ticket for the early train"]


def test_the_default_model_ships_whole_with_its_card():
    package = load_package(SHIPPED)  # config, tokens, weights (sha256 checked), features
    assert package.model.config.encoder == "whisper" and package.features.kind == "whisper"
    # beam + its word 3-gram (gzip-compressed ARPA) + lexicon; its LSTM LM for --decode beam_lm
    assert package.decode["method"] == "beam" and package.decode["ngram"] == "ngram.arpa.gz"
    assert (SHIPPED / "ngram.arpa.gz").read_bytes()[:2] == b"\x1f\x8b" and (SHIPPED / "lm" / "lm.safetensors").is_file()
    assert (SHIPPED / package.decode["lexicon"]).is_file()
    card = (SHIPPED / "README.md").read_text()
    assert "## Training" in card and "## Not good at" in card and "Whisper tiny.en" in card and "dev-real" in card
    size = sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file())
    assert size < 26e6, f"models/en holds {size / 1e6:.1f} MB"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (apt) is not installed")
def test_asr_transcribe_with_no_model_recognizes_unseen_sentences(tmp_path):
    """Three sentences spoken by espeak-ng's default voice (robotic; none of the sentences is in any corpus here):
    the default model, by its default decoding (beam + its word 3-gram + lexicon) and with its LSTM LM
    (--decode beam_lm), gets most of their words right (19% and 28% WER when it shipped; a model that does not work
    gets ~100%)."""
    files = []
    for i, text in enumerate(SENTENCES):
        path = tmp_path / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, timeout=60)
        files.append(path)
    env = {k: v for k, v in os.environ.items() if k != "ASR_MODEL"}  # the shipped model, not a test's
    for decode in ([], ["--decode", "beam_lm"]):
        run = subprocess.run([*ASR, "transcribe", *map(str, files), "--format", "json", *decode], capture_output=True,
                             text=True, env=env, timeout=600)
        assert run.returncode == 0, run.stderr
        texts = [json.loads(line)["text"] for line in run.stdout.strip().splitlines()]
        assert len(texts) == len(SENTENCES)
        assert jiwer.wer([s.upper() for s in SENTENCES], texts) < 0.5, (decode, texts)
