"""The `asr` command end to end on the tiny corpus: prepare -> train -> export -> transcribe -> evaluate."""

import json
import os
import shutil
import subprocess
import sys
import wave

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
import yaml

from asr.cli import COMMANDS

ASR = [sys.executable, "-m", "asr.cli"]


def asr(*args, check=True, cwd=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([*ASR, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"asr {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def trained(tiny_corpus, tmp_path_factory):
    """`asr prepare` + `asr train` (2 tiny epochs) through the real command line."""
    work = tmp_path_factory.mktemp("cli")
    out = asr("prepare", tiny_corpus, work / "manifests")
    assert "train-clean-5: 12 utterances" in out.stdout
    out = asr("train", "experiment=tiny", f"data.manifest_dir={work / 'manifests'}", f"exp_dir={work / 'exp'}",
              "trainer.average_last=2")
    assert "GPU available" in out.stderr + out.stdout  # Lightning's own start-up lines are there ...
    assert "litlogger" not in out.stderr + out.stdout  # ... but not its advertisement
    return work


EXPECTED_COMMANDS = ["make-corpus", "make-noise", "make-real-dev", "degrade", "make-lm-text", "make-lexicon",
                     "make-ngram", "download", "prepare", "compute-cmvn", "make-teacher-states", "train", "export", "transcribe", "evaluate", "compare", "lm",
                     "tune",
                     "plot", "info", "serve"]


def test_every_subcommand_explains_itself():
    top = asr("--help").stdout
    assert sorted(COMMANDS) == sorted(EXPECTED_COMMANDS)  # the documented set, no more, no fewer
    for name in EXPECTED_COMMANDS:
        assert name in top
        if name != "train":
            assert "usage: asr " + name in asr(name, "--help").stdout
    train_help = asr("train", "--help").stdout  # Hydra's help: config groups and overrides
    assert "experiment" in train_help and "model" in train_help


def test_train_writes_model_package_checkpoints_and_logs(trained):
    exp = trained / "exp"
    assert {p.name for p in (exp / "model").iterdir()} >= {"model.safetensors", "config.yaml", "tokens.json",
                                                           "cmvn.json"}
    assert (exp / "checkpoints" / "last.ckpt").is_file()
    assert list((exp / "tensorboard").rglob("events.out.tfevents.*")) and list((exp / "csv").rglob("metrics.csv"))
    assert list((exp / "hydra").rglob("config.yaml"))  # the resolved config of the run
    # trainer.average_last=2: the package averages the last two epochs' checkpoints
    assert len(list((exp / "checkpoints").glob("avg-epoch*.ckpt"))) == 2
    meta = yaml.safe_load((exp / "model" / "config.yaml").read_text())["meta"]
    assert meta["averaged_epochs"] == 2 and len(meta["checkpoint"]) == 2


def test_export_from_checkpoint(trained, tmp_path):
    out = asr("export", trained / "exp" / "checkpoints" / "last.ckpt", tmp_path / "pkg")
    assert "model package" in out.stdout
    assert (tmp_path / "pkg" / "model.safetensors").is_file() and (tmp_path / "pkg" / "config.yaml").is_file()
    # several checkpoints of one run: the package holds their average
    from safetensors.torch import load_file

    ckpts = sorted((trained / "exp" / "checkpoints").glob("epoch*.ckpt"))
    assert len(ckpts) == 2
    asr("export", *ckpts, tmp_path / "avg")
    singles = []
    for i, ckpt in enumerate(ckpts):
        asr("export", ckpt, tmp_path / f"single{i}")
        singles.append(load_file(tmp_path / f"single{i}" / "model.safetensors"))
    averaged = load_file(tmp_path / "avg" / "model.safetensors")
    for name, tensor in averaged.items():
        torch.testing.assert_close(tensor, (singles[0][name] + singles[1][name]) / 2, msg=name)
    assert any(not torch.equal(singles[0][k], singles[1][k]) for k in averaged)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    proc = asr("export", bad, tmp_path / "pkg2", check=False)
    assert proc.returncode == 1 and "bad.ckpt" in proc.stderr and not (tmp_path / "pkg2").exists()


def test_transcribe_many_formats_and_bad_files(trained, tiny_corpus, tmp_path):
    model = trained / "exp" / "model"
    flac = sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))[0]
    audio, sr = sf.read(flac)
    stereo_44k = tmp_path / "stereo.wav"
    sf.write(stereo_44k, soxr.resample(np.stack([audio, audio * 0.5], 1), sr, 44100), 44100)
    ogg = tmp_path / "speech.ogg"
    sf.write(ogg, audio, sr, format="OGG", subtype="VORBIS")
    mp3 = tmp_path / "speech.mp3"
    sf.write(mp3, soxr.resample(audio, sr, 22050), 22050, format="MP3")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("hello, I am text")
    zero = tmp_path / "zero.wav"
    with wave.open(str(zero), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    missing = tmp_path / "missing.flac"
    dir_named_like_audio = tmp_path / "x.wav"
    dir_named_like_audio.mkdir()

    proc = asr("transcribe", model, flac, stereo_44k, ogg, mp3, empty, not_audio, zero, missing, dir_named_like_audio,
               check=False)
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(flac), str(stereo_44k), str(ogg), str(mp3)]
    for bad, why in ((empty, "empty"), (not_audio, "not a readable audio file"), (zero, "zero samples"),
                     (missing, "no such file"), (dir_named_like_audio, "a directory with no audio file")):
        assert any(str(bad) in line and why in line for line in proc.stderr.splitlines()), (bad, proc.stderr)
    assert "5 of 9 input(s) failed" in proc.stderr

    ok = asr("transcribe", model, flac, "--json")
    result = json.loads(ok.stdout.strip())
    assert set(result) == {"text", "duration", "source", "words"}
    assert result["duration"] == pytest.approx(len(audio) / sr, abs=1e-3)
    assert [w["text"] for w in result["words"]] == result["text"].split()
    for w in result["words"]:
        assert 0 <= w["start"] < w["end"] <= result["duration"] + 0.05 and 0 < w["confidence"] <= 1


def test_transcribe_directories_stdin_formats_and_output_dir(tiny_corpus, tmp_path):
    from pathlib import Path

    model = Path(__file__).parent / "data" / "small_model"  # a model that recognizes speech: results are not empty
    subset = tiny_corpus / "LibriSpeech" / "dev-clean-2"
    flacs = sorted(subset.rglob("*.flac"))
    out = tmp_path / "out"
    (subset / "notes.txt").write_text("not audio, and not an audio extension: ignored")
    try:
        asr("transcribe", model, subset, "--format", "srt", "--output-dir", out)
    finally:
        (subset / "notes.txt").unlink()
    written = sorted(out.rglob("*.srt"))
    assert [p.relative_to(out).with_suffix("") for p in written] == [f.relative_to(subset).with_suffix("")
                                                                      for f in flacs]
    assert not list(out.rglob(".*.tmp*"))  # written atomically: no temporary file is left
    for path in written:
        cues = path.read_text().split("\n\n")
        assert cues[0].startswith("1\n00:00:0") and len(cues[0].splitlines()) >= 3, path  # index, times, words
    # stdin, and each format of the same result
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    results = {}
    for fmt in ("text", "json", "vtt"):
        proc = subprocess.run([*ASR, "transcribe", str(model), "-", "--format", fmt], input=flacs[0].read_bytes(),
                              capture_output=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode()
        results[fmt] = proc.stdout.decode()
    as_json = json.loads(results["json"])
    assert as_json["source"] == "-" and as_json["text"] and results["text"].strip() == as_json["text"]
    assert results["vtt"].startswith("WEBVTT\n\n") and as_json["words"][0]["text"] in results["vtt"]
    proc = subprocess.run([*ASR, "transcribe", str(model), "-"], input=b"", capture_output=True, env=env, timeout=300)
    assert proc.returncode == 1 and "no audio on standard input" in proc.stderr.decode()


def test_transcribe_missing_model_is_a_clear_error(tmp_path):
    proc = asr("transcribe", tmp_path / "nomodel", tmp_path / "x.wav", check=False)
    assert proc.returncode == 1 and "nomodel" in proc.stderr and "Traceback" not in proc.stderr


def test_evaluate_writes_reports(trained, tiny_corpus, tmp_path):
    from pathlib import Path

    import jiwer

    small = Path(__file__).parent / "data" / "small_model"  # recognizes speech: the scores are not trivial
    out = asr("evaluate", small, tiny_corpus / "LibriSpeech" / "test-clean-2", "--output-dir", tmp_path / "eval")
    assert "test-clean-2 [greedy]: WER" in out.stdout and "CER" in out.stdout and "RTF" in out.stdout
    assert "REF:" in out.stdout and "HYP:" in out.stdout
    summary = json.loads((tmp_path / "eval" / "test-clean-2.greedy.summary.json").read_text())
    rows = [r.split("\t") for r in (tmp_path / "eval" / "test-clean-2.greedy.per_utt.tsv").read_text().splitlines()]
    assert rows[0] == ["id", "errors", "words", "wer", "ref", "hyp"] and len(rows) == 5
    refs, hyps = [r[4] for r in rows[1:]], [r[5] for r in rows[1:]]
    # the summary's figures are jiwer's on the listed references and hypotheses (computed here independently)
    assert summary["utterances"] == 4 and summary["rtf"] > 0 and any(hyps)
    assert summary["wer"] == pytest.approx(jiwer.wer(refs, hyps)) and summary["cer"] == pytest.approx(jiwer.cer(refs, hyps))
    assert 0 < summary["cer"] < 1  # a real model: neither perfect nor empty on unseen tiny-corpus voices
    low, high = summary["wer_interval"]  # by bootstrap over the 4 utterances
    assert low <= summary["wer"] <= high and low < high
    assert f"WER 95% interval {100 * low:.2f}-{100 * high:.2f}%" in out.stdout
    compared = asr("compare", tmp_path / "eval" / "test-clean-2.greedy.per_utt.tsv",
                   tmp_path / "eval" / "test-clean-2.greedy.per_utt.tsv")
    assert "B - A: +0.00 points" in compared.stdout  # a system against itself
    assert sum(int(r[1]) for r in rows[1:]) == jiwer.process_words(refs, hyps).substitutions + \
        jiwer.process_words(refs, hyps).deletions + jiwer.process_words(refs, hyps).insertions
    # a manifest works as DATA too
    manifest = trained / "manifests" / "librispeech_cuts_dev-clean-2.jsonl.gz"
    out = asr("evaluate", trained / "exp" / "model", manifest, "--output-dir", tmp_path / "eval2")
    assert "dev-clean-2 [greedy]: WER" in out.stdout


def test_make_corpus_command_and_missing_data(tmp_path):
    proc = asr("prepare", tmp_path / "nowhere", tmp_path / "m", check=False)
    assert proc.returncode == 1 and "nowhere" in proc.stderr
    asr("make-corpus", tmp_path / "c", "--plan", "tiny")  # tools/setup.sh installs the TTS engines
    assert len(list((tmp_path / "c" / "LibriSpeech" / "dev-clean-2").rglob("*.flac"))) == 4


@pytest.mark.slow
def test_hydra_sweep_gives_each_job_its_own_directory(trained, tmp_path):
    asr("train", "-m", "experiment=tiny", f"data.manifest_dir={trained / 'manifests'}", f"exp_dir={tmp_path}",
        "trainer.max_epochs=1", "optim=adam,rmsprop")
    summaries = sorted(tmp_path.glob("multirun/*/*/train_summary.json"))
    assert len(summaries) == 2
    assert all((p.parent / "model" / "model.safetensors").is_file() for p in summaries)


def test_export_onnx_and_transcribe_with_onnxruntime(trained, tiny_corpus, tmp_path):
    from pathlib import Path

    pkg = tmp_path / "pkg"  # a model that recognizes speech, so that equal texts are not two empty strings
    shutil.copytree(Path(__file__).parent / "data" / "small_model", pkg)
    missing = asr("transcribe", pkg, "--runtime", "onnx", tmp_path / "x.wav", check=False)
    assert missing.returncode == 1 and "model.onnx" in missing.stderr and "asr export" in missing.stderr
    out = asr("export", pkg, pkg, "--format", "onnx", "--quantize", "int8").stdout
    assert "parity <= 0.0001: ok" in out and (pkg / "model.onnx").is_file() and (pkg / "model.int8.onnx").is_file()
    assert (pkg / "model.safetensors").is_file()  # exported in place: the package is kept
    flacs = sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))
    by_torch = json.loads(asr("transcribe", pkg, flacs[0], "--json").stdout)
    by_onnx = json.loads(asr("transcribe", pkg, flacs[0], "--json", "--runtime", "onnx").stdout)
    assert by_torch["text"] and by_onnx["text"] == by_torch["text"]
    for a, b in zip(by_onnx["words"], by_torch["words"]):
        assert a["start"] == b["start"] and a["end"] == b["end"] and a["confidence"] == pytest.approx(b["confidence"],
                                                                                                       abs=1e-3)
    int8 = asr("transcribe", pkg, *flacs, "--runtime", "onnx-int8")
    assert [line.split("\t")[0] for line in int8.stdout.strip().splitlines()] == list(map(str, flacs))
    ts = asr("export", trained / "exp" / "checkpoints" / "last.ckpt", tmp_path / "ts", "--format", "torchscript")
    assert "parity <= 0.0001: ok" in ts.stdout and (tmp_path / "ts" / "model.torchscript.pt").is_file()


def test_transcribe_without_a_model_uses_the_default_one(tmp_path):
    """`asr transcribe FILE`: no model package first, so the default model ($ASR_MODEL here) transcribes."""
    from pathlib import Path

    small = Path(__file__).parent / "data" / "small_model"
    audio = tmp_path / "tone.wav"
    sf.write(audio, 0.1 * np.sin(np.arange(16000) * 0.3), 16000)
    env = {**os.environ, "ASR_MODEL": str(small)}
    run = subprocess.run([*ASR, "transcribe", str(audio), "--format", "json"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["source"] == str(audio)
    explicit = asr("transcribe", small, audio, "--format", "json")
    assert json.loads(explicit.stdout) == json.loads(run.stdout)  # the same model, named or by default
    env["ASR_MODEL"] = str(tmp_path / "nowhere")
    missing = subprocess.run([*ASR, "transcribe", str(audio)], capture_output=True, text=True, env=env, timeout=300)
    assert missing.returncode != 0 and "default model is not installed" in missing.stderr
    assert f"{audio}: not a model package" in missing.stderr
