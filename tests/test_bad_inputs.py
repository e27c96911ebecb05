"""The bad-input corpus against every command that takes input: each input gets a clear error that names the file
and the problem, a counted skip with the reason, or a result; never a traceback, never a hang, never a partial
output left as if complete. The test prints the tally (inputs x commands, crashes, outputs lost); docs/reliability.md
records it. Made on the fly: nothing here is committed audio. (Three hours of audio: tools/bench_memory.py.)"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.cli import main

SMALL = Path(__file__).parent / "data" / "small_model"
SR = 16000
TALLY = {"cases": 0, "crashes": 0, "outputs_checked": 0}  # outputs checked: none partial or left behind


def bad_audio(d: Path) -> dict[str, bool]:
    """name -> usable (a transcript is expected) for every file written into ``d``."""
    t = np.arange(2 * SR) / SR
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    (d / "empty.wav").write_bytes(b"")
    sf.write(d / "zero_samples.wav", np.zeros(0, np.float32), SR)
    sf.write(d / "ok.wav", tone, SR)
    (d / "truncated_header.wav").write_bytes((d / "ok.wav").read_bytes()[:20])
    sf.write(d / "ok.flac", tone, SR)
    flac = (d / "ok.flac").read_bytes()
    (d / "truncated_data.flac").write_bytes(flac[:len(flac) // 2])
    (d / "not_audio.mp3").write_bytes(b"hello, this is text, not audio\n" * 40)
    (d / "dir.wav").mkdir()
    for name, value in (("nan.wav", np.nan), ("inf.wav", np.inf)):
        x = tone.copy()
        x[100] = value
        sf.write(d / name, x, SR, subtype="FLOAT")
    sf.write(d / "zeros.wav", np.zeros(SR, np.float32), SR)
    sf.write(d / "clipped.wav", np.sign(tone), SR)
    sf.write(d / "8k.wav", tone[::2], 8000)
    sf.write(d / "48k.wav", np.repeat(tone, 3), 48000)
    sf.write(d / "6ch.wav", np.stack([tone] * 6, 1), SR)
    sf.write(d / "short.wav", tone[:160], SR)  # 0.01 s
    usable = {"ok.wav", "ok.flac", "zeros.wav", "clipped.wav", "8k.wav", "48k.wav", "6ch.wav", "short.wav"}
    return {p.name: p.name in usable for p in sorted(d.iterdir())}


def bad_packages(d: Path) -> list[Path]:
    out = []
    for name in ("missing_file", "truncated", "tampered", "huge_header", "nan_weights"):
        shutil.copytree(SMALL, d / name)
        out.append(d / name)
    (d / "missing_file" / "tokens.json").unlink()
    w = d / "truncated" / "model.safetensors"
    w.write_bytes(w.read_bytes()[:len(w.read_bytes()) // 2])
    from asr.package import load_package, save_package

    save_package(load_package(SMALL), d / "tampered")  # a package that records its weights' sha256 ...
    w = d / "tampered" / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-500] ^= 1  # ... and one bit flipped afterwards
    w.write_bytes(bytes(data))
    w = d / "huge_header" / "model.safetensors"
    w.write_bytes(struct.pack("<Q", 2 ** 40) + w.read_bytes()[8:])
    w = d / "nan_weights" / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1000:-900] = b"\xff" * 100  # NaN bit patterns in the last tensor
    w.write_bytes(bytes(data))
    return out


def bad_corpus(d: Path, audio_dir: Path) -> Path:
    """A LibriSpeech-layout subset with bad lines: missing audio, non-UTF-8 and non-ASCII transcripts, a transcript
    too long for its 0.01 s of audio, unreadable audio, a duplicate id, a line with no transcript."""
    spk = d / "LibriSpeech" / "dev-clean-2" / "1" / "2"
    spk.mkdir(parents=True)
    speech = sorted((Path(__file__).parent / "data").rglob("*.flac"))
    for i, name in enumerate(["0000", "0002", "0005", "0006"]):
        shutil.copy(speech[i % len(speech)] if speech else audio_dir / "ok.flac", spk / f"1-2-{name}.flac")
    sf.write(spk / "1-2-0003.flac", np.full(160, 0.01, np.float32), SR)
    (spk / "1-2-0004.flac").write_bytes(b"garbage, not flac")
    lines = [b"1-2-0000 HELLO WORLD", b"1-2-0001 ITS AUDIO IS MISSING", b"1-2-0002 THIRD LINE HERE",
             b"1-2-0003 " + b"A TRANSCRIPT FAR TOO LONG FOR ITS AUDIO " * 6, b"1-2-0004 GARBAGE AUDIO",
             b"1-2-0005 CAF\xc9 IS NOT UTF EIGHT", "1-2-0006 CAFÉ 東京 ÑANDÚ".encode(), b"1-2-0000 DUPLICATE ID",
             b"1-2-0007"]
    (spk / "1-2.trans.txt").write_bytes(b"\n".join(lines) + b"\n")
    return d / "LibriSpeech" / "dev-clean-2"


def run(capsys, *argv) -> tuple[int, str, str]:
    """`asr ARGV` in this process; an exception escaping the command is a crash."""
    TALLY["cases"] += 1
    try:
        code = main([str(a) for a in argv])
    except BaseException as e:  # noqa: BLE001 - the point: nothing may escape
        TALLY["crashes"] += 1
        raise AssertionError(f"asr {' '.join(map(str, argv))} crashed: {type(e).__name__}: {e}") from e
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "audio").mkdir()
    (root / "packages").mkdir()
    import torch

    from asr.lm_package import LMPackage, save_lm_package
    from asr.models.lm import CharLM, LMConfig
    from asr.text import Tokenizer

    torch.manual_seed(0)
    lm = save_lm_package(LMPackage(CharLM(LMConfig(embed_dim=8, hidden_size=8, num_layers=1)), Tokenizer(), {}),
                         root / "lm")
    return {"audio": root / "audio", "usable": bad_audio(root / "audio"), "lm": lm,
            "packages": bad_packages(root / "packages"), "subset": bad_corpus(root / "corpus", root / "audio"),
            "root": root}


def test_transcribe_every_bad_file(corpus, capsys):
    files = sorted(corpus["audio"].iterdir())
    out_dir = corpus["root"] / "out"
    code, out, err = run(capsys, "transcribe", SMALL, *files, "--output-dir", out_dir, "--format", "json")
    assert code == 1  # some failed, the others were transcribed
    for f in files:
        if corpus["usable"][f.name]:
            result = json.loads((out_dir / f"{f.stem}.json").read_text())
            assert result["duration"] > 0
        else:
            assert not (out_dir / f"{f.stem}.json").exists()  # nothing written for a failure
            TALLY["outputs_checked"] += 1
            assert any(str(f) in line for line in err.splitlines() if "error" in line), f.name
    TALLY["cases"] += len(files) - 1  # one command, every file judged on its own
    assert not [p for p in out_dir.rglob("*") if p.name.startswith(".")]  # no temporary file left


def test_transcribe_stream_every_bad_file(corpus, capsys, tmp_path):
    import torch

    from asr.models.acoustic import AcousticConfig, AcousticModel
    from asr.package import ModelPackage, load_package, save_package

    small = load_package(SMALL)
    torch.manual_seed(0)
    model = AcousticModel(AcousticConfig(num_layers=1, hidden_size=16, bidirectional=False, lookahead=2))
    stream_pkg = save_package(ModelPackage(model, small.tokenizer, small.features), tmp_path / "stream")
    for f in sorted(corpus["audio"].iterdir()):
        code, out, err = run(capsys, "transcribe", stream_pkg, f, "--stream", "--format", "json")
        if corpus["usable"][f.name]:
            assert code == 0 and json.loads(out.splitlines()[-1])["type"] == "done", (f.name, err)
        else:
            assert code == 1 and str(f) in err, (f.name, err)


def test_serve_every_bad_upload(corpus):
    from asr.server import make_server

    with make_server(SMALL, port=0, max_concurrent=1) as srv:
        for f in sorted(corpus["audio"].iterdir()):
            if f.is_dir():
                continue
            TALLY["cases"] += 1
            req = urllib.request.Request(srv.url + "/transcribe", data=f.read_bytes(), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    status, body = r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                status, body = e.code, json.loads(e.read())
            if corpus["usable"][f.name]:
                assert status == 200 and "text" in body, (f.name, body)
            else:
                assert status == 400 and body["error"], (f.name, body)


def test_bad_model_packages_under_every_command(corpus, capsys, tmp_path):
    for package in corpus["packages"]:
        for argv in (["transcribe", package, corpus["audio"] / "ok.wav"], ["info", package],
                     ["evaluate", package, corpus["subset"], "--output-dir", tmp_path / "eval"],
                     ["export", package, tmp_path / f"export_{package.name}", "--format", "onnx"],
                     ["tune", package, "--lm", corpus["lm"], "--data", corpus["subset"], "--beam-sizes", "2",
                      "--dry-run"]):
            code, _, err = run(capsys, *argv)
            where = package if package.name == "missing_file" else package / "model.safetensors"
            assert code == 1 and str(where) in err, (package.name, argv[0], err)
            assert not (tmp_path / f"export_{package.name}").exists()  # nothing exported from a bad package
            TALLY["outputs_checked"] += 1
        from asr.server import make_server

        TALLY["cases"] += 1
        with pytest.raises((ValueError, FileNotFoundError), match=str(package.name)):
            make_server(package, port=0)


def test_bad_corpus_through_prepare_cmvn_evaluate_and_train(corpus, capsys, tmp_path):
    manifests = tmp_path / "manifests"
    code, out, err = run(capsys, "prepare", corpus["subset"].parent.parent, manifests, "--subsets", "dev-clean-2")
    assert code == 0
    skipped = dict(line.split("\t") for line in (manifests / "skipped_dev-clean-2.tsv").read_text().splitlines())
    reasons = " | ".join(skipped.values())
    for why in ("audio file missing", "not UTF-8", "duplicate id", "unreadable audio", "no transcript"):
        assert why in reasons, (why, skipped)
    assert "4 utterances" in out and "skipped 5" in out
    cuts = manifests / "librispeech_cuts_dev-clean-2.jsonl.gz"
    code, out, _ = run(capsys, "compute-cmvn", cuts, tmp_path / "cmvn.json")
    assert code == 0 and (tmp_path / "cmvn.json").is_file()
    for data in (corpus["subset"], cuts):
        code, out, _ = run(capsys, "evaluate", SMALL, data, "--output-dir", tmp_path / "eval")
        assert code == 0 and "utterances 4" in out  # the CJK reference is scored (its characters as errors)
    TALLY["cases"] += 1
    exp = tmp_path / "exp"
    proc = subprocess.run([sys.executable, "-m", "asr.cli", "train", "experiment=tiny",
                           f"data.manifest_dir={manifests}", f"data.train_cuts={cuts}", f"data.dev_cuts={cuts}",
                           f"exp_dir={exp}", "trainer.max_epochs=1"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    summary = json.loads((exp / "train_summary.json").read_text())
    assert summary["train_skipped"] == {"transcript longer than the model's output frames": 1,
                                        "characters outside the token set (京東)": 1}


def test_lm_train_on_bad_text(corpus, tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"HELLO THERE\n\xff\xfe NOT UTF EIGHT\n" + "CAFÉ 東京\n".encode() * 3 +
                                       b"A GOOD SENTENCE\n" * 50)
    (tmp_path / "empty.txt").write_bytes(b"")
    for text, ok in (("bad.txt", True), ("empty.txt", False), ("missing.txt", False)):
        TALLY["cases"] += 1
        proc = subprocess.run([sys.executable, "-m", "asr.cli", "lm", "train", f"train_text={tmp_path / text}",
                               f"exp_dir={tmp_path / text}.exp", "lm.hidden_size=16", "lm.embed_dim=8",
                               "trainer.max_epochs=1"], capture_output=True, text=True, timeout=600)
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert (proc.returncode == 0) == ok, proc.stderr[-2000:]
        if not ok:
            assert text in proc.stderr
            assert not (tmp_path / f"{text}.exp" / "lm").exists()
            TALLY["outputs_checked"] += 1


def test_zz_tally():
    """Runs last (file order): the figures for docs/reliability.md."""
    print(f"\nbad inputs x commands: {TALLY['cases']} cases, {TALLY['crashes']} crashes; {TALLY['outputs_checked']} "
          "failed cases checked to leave no output behind")
    assert TALLY["crashes"] == 0
