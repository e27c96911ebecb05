"""recipes/mini/run.sh through every stage at tiny scale, then again: finished stages are skipped."""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from asr.cuts import load_cuts

RUN = Path(__file__).resolve().parent.parent / "recipes" / "mini" / "run.sh"


def run_recipe(tmp_path, *extra):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = ["bash", str(RUN), "--plan", "tiny", "--data-dir", str(tmp_path / "data"), "--exp-dir",
           str(tmp_path / "exp"), "--lm-args", "lm.hidden_size=32 lm.embed_dim=16 trainer.max_epochs=1 "
           "max_sentences=300", *extra, "--", "experiment=tiny", "trainer.max_epochs=1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/espeak-ng").exists(), reason="needs the espeak-ng TTS engine")
def test_mini_recipe_runs_every_stage_and_skips_done_ones(tmp_path):
    out = run_recipe(tmp_path, "--streaming", "--lexicon")
    for stage in range(11):
        assert f"stage {stage}:" in out
    exp = tmp_path / "exp"
    # --streaming: the chunked BiLSTM fine-tuned from the BiLSTM, evaluated, and a file transcribed as a stream
    assert "stage 3: fine-tune the streaming model" in out
    assert "chunk_size: 8" in (exp / "stream" / "model" / "config.yaml").read_text()
    assert "test-clean-2 [greedy]: WER" in (exp / "stream" / "eval_test-clean-2.txt").read_text()
    assert "streamed:" in out
    assert (exp / "model" / "model.safetensors").is_file() and (exp / "lm" / "lm" / "lm.safetensors").is_file()
    assert "test-clean-2 [greedy]: WER" in (exp / "eval_test-clean-2.txt").read_text()
    assert "perplexity" in (exp / "perplexity_test.txt").read_text()
    assert "best: " in (exp / "tune.txt").read_text()
    ranked = (exp / "eval_lm" / "test-clean-2.summary.tsv").read_text()
    assert all(m in ranked for m in ("greedy", "beam", "beam_lm"))
    assert "reference:" in out and "beam + LM:" in out
    # the LM text holds no dev or test sentence
    lm_text = set((tmp_path / "data" / "lm" / "train.txt").read_text().splitlines())
    assert lm_text and not lm_text & set((tmp_path / "data" / "lm" / "test.txt").read_text().splitlines())
    # --lexicon: the LM text's words (and the system's word list) in a lexicon the tuned package carries
    lexicon = set((tmp_path / "data" / "lm" / "lexicon.txt").read_text().split())
    assert {w for line in lm_text for w in line.split()} <= lexicon
    assert "lexicon: lexicon.txt" in (exp / "model" / "config.yaml").read_text()
    assert set((exp / "model" / "lexicon.txt").read_text().split()) == lexicon
    beam = (exp / "eval_lm" / "test-clean-2.beam_lm.per_utt.tsv").read_text().splitlines()[1:]
    assert all(set(row.split("\t")[5].split()) <= lexicon for row in beam)
    # the word 3-gram of the LM text: its perplexity, tuned beside the LSTM LM, what `--decode beam` uses
    assert "per word" in (exp / "perplexity_words3_dev.txt").read_text()
    assert "best: n-gram in the beam" in (exp / "tune_ngram.txt").read_text()
    decode = yaml.safe_load((exp / "model" / "config.yaml").read_text())["decode"]
    assert decode["ngram"] == "ngram.arpa"  # a copy in the package
    assert (exp / "model" / "ngram.arpa").read_bytes() == (tmp_path / "data" / "lm" / "words3.arpa").read_bytes()
    assert decode["ngram_weight"] in (0.8, 1.2, 1.6, 2.0) and decode["lexicon"] == "lexicon.txt"
    assert json.loads((exp / "eval_lm" / "test-clean-2.beam.summary.json").read_text())["decode"]["ngram"]
    assert "beam + 3-gram:" in out

    again = run_recipe(tmp_path, "--streaming", "--lexicon")
    for stage in range(10):
        assert f"stage {stage} (" in again and "done already, skipping" in again
    assert "stage 3 (fine-tune the streaming model): done already" in again
    assert "stage 4 (evaluate the streaming model (greedy)): done already" in again


EN_RUN = Path(__file__).resolve().parent.parent / "recipes" / "en" / "run.sh"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/espeak-ng").exists(), reason="needs the espeak-ng TTS engine")
def test_en_recipe_trains_with_noise_rooms_and_codecs_and_scores_the_real_dev_set(tmp_path, fake_sdists):
    """recipes/en/run.sh at tiny scale: the noise stage, experiment=general's augmentation in a real training run
    (as experiment=general_extra, on the corpus and an extra one beside it: --extra-plan), and the natural-speech dev
    set scored after training (stand-in sdists: no network); with --distill, Whisper tiny.en's encoder states for
    every training cut of both corpora (the real teacher, the `teacher` extra) and training that predicts them."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "ASR_SDIST_DIR": str(fake_sdists)}
    cmd = ["bash", str(EN_RUN), "--plan", "tiny", "--extra-plan", "tiny-extra", "--experiment", "general_extra",
           "--data-dir", str(tmp_path / "data"), "--exp-dir", str(tmp_path / "exp"), "--stop-stage", "4", "--distill",
           "--",
           "model.num_layers=1", "model.hidden_size=32",
           "trainer.max_epochs=1", "trainer.log_every_n_steps=1", "data.max_duration=30", "data.num_buckets=2",
           "data.num_workers=0",
           "data.augment.reverb.p=1.0", "data.augment.codec.p=1.0", "data.noise.p=1.0",
           "data.spec_augment={num_frame_masks:1,features_mask_size:10,frames_mask_size:20}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    data, exp = tmp_path / "data", tmp_path / "exp"
    assert (data / "noise" / "noise_cuts.jsonl.gz").is_file() and (data / "noise" / "rir_recordings.jsonl.gz").is_file()
    config = yaml.safe_load((exp / "model" / "config.yaml").read_text())
    assert config["model"]["normalization"] == "utterance_mv" and config["model"]["subsampling"] == "conv2d"
    # trained on both corpora: the extra one's speakers are in the training cuts, its eval subsets are linked
    from lhotse import CutSet

    extra = data / "extra"
    extra_speakers = {c.supervisions[0].speaker for c in
                      CutSet.from_file(extra / "manifests" / "librispeech_cuts_train-clean-5.jsonl.gz")}
    main_speakers = {c.supervisions[0].speaker for c in
                     CutSet.from_file(data / "manifests" / "librispeech_cuts_train-clean-5.jsonl.gz")}
    assert len(extra_speakers) == 2 and not extra_speakers & main_speakers
    assert (extra / "corpus" / "LibriSpeech" / "dev-clean-2").is_dir()
    train_cuts = yaml.safe_load(next((exp / "hydra").rglob("config.yaml")).read_text())["data"]["train_cuts"]
    assert train_cuts == [str(data / "manifests" / "librispeech_cuts_train-clean-5.jsonl.gz"),
                          str(extra / "manifests" / "librispeech_cuts_train-clean-5.jsonl.gz")]
    assert "dev-real [greedy]: WER" in (exp / "eval_dev-real.txt").read_text()
    rows = list(csv.DictReader((exp / "csv" / "version_0" / "metrics.csv").open()))
    skipped = [float(r["train/utts_skipped"]) for r in rows if r.get("train/utts_skipped")]
    assert skipped and max(skipped) == 0  # every augmented training utterance loaded

    # --distill: a state per 20 ms of every training cut, from the teacher itself, and a run that learned them
    from asr.distill import TeacherStates

    states = TeacherStates(data / "teacher")
    every = [c for path in train_cuts for c in CutSet.from_file(path)]
    assert len(states) == len(every)
    assert all(states.get(c.id).shape == (-(-c.num_samples // 320), 384) for c in every)
    hydra_config = yaml.safe_load(next((exp / "hydra").rglob("config.yaml")).read_text())
    assert hydra_config["distill"]["dir"] == str(data / "teacher") and hydra_config["distill"]["weight"] == 1.0
    distill = [float(r["train/distill"]) for r in rows if r.get("train/distill")]
    assert distill and all(math.isfinite(d) for d in distill)

    # recipes/en/ablate.sh on the same data: each run trains with its component changed, is scored on dev-real as
    # recorded, in rooms, in noise and on the test set; a second call trains nothing and writes the same table
    ablate = ["bash", str(EN_RUN.parent / "ablate.sh"), "--data-dir", str(data), "--exp-dir", str(tmp_path / "ablate"),
              "--epochs", "1", "--runs", "base no_noise", "--", "model.num_layers=1", "model.hidden_size=32",
              "data.max_duration=30", "data.num_buckets=2", "data.num_workers=0"]
    first = subprocess.run(ablate, capture_output=True, text=True, env=env, timeout=900)
    assert first.returncode == 0, f"{first.stdout[-3000:]}\n{first.stderr[-3000:]}"
    assert " base: \n" in first.stdout and " no_noise: data.noise=null\n" in first.stdout
    table = (tmp_path / "ablate" / "RESULTS.tsv").read_text()
    rows = [r.split("\t") for r in table.splitlines()]
    assert rows[0][:3] == ["run", "dev CER by epoch (synthetic, %)", "dev-real WER/CER"]
    assert [r[0] for r in rows[1:]] == ["base", "no_noise"]
    import re

    assert all(re.fullmatch(r"[0-9.]+", r[1]) and all(re.fullmatch(r"[0-9.]+/[0-9.]+", c) for c in r[2:6])
               for r in rows[1:])
    assert "noise: null" in next((tmp_path / "ablate" / "no_noise" / "hydra").rglob("config.yaml")).read_text()
    assert len(list((data / "real" / "LibriSpeech" / "dev-real-room").rglob("*.flac"))) == len(
        list((data / "real" / "LibriSpeech" / "dev-real").rglob("*.flac")))
    again = subprocess.run(ablate, capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0 and " base: " not in again.stdout
    assert (tmp_path / "ablate" / "RESULTS.tsv").read_text() == table


LIBRISPEECH_RUN = Path(__file__).resolve().parent.parent / "recipes" / "librispeech" / "run.sh"


def run_librispeech(tmp_path, base_url, *extra):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = ["bash", str(LIBRISPEECH_RUN), "--size", "100", "--ngpu", "0", "--nj", "2", "--base-url", base_url,
           "--data-dir", str(tmp_path / "data"), "--exp-dir", str(tmp_path / "exp"), "--experiment", "tiny",
           "--lm-sentences", "300", "--lm-args", "lm.hidden_size=32 lm.embed_dim=16 trainer.max_epochs=1",
           *extra, "--", "trainer.max_epochs=1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/espeak-ng").exists(), reason="needs the espeak-ng TTS engine")
def test_librispeech_recipe_from_a_local_mirror_through_every_stage(tiny_librispeech, tmp_path):
    """The whole LibriSpeech recipe against a 127.0.0.1 mirror serving LibriSpeech-named tarballs, md5 sums and the
    LM text; the server drops the first download of train-clean-100 midway. With --distill: the teacher's compact
    states for every training cut before stage 3, and a training run that learned them."""
    from mirror import Mirror

    from asr.distill import TeacherStates

    size = (tiny_librispeech / "train-clean-100.tar.gz").stat().st_size
    with Mirror(tiny_librispeech) as mirror:
        mirror.drop_after["train-clean-100.tar.gz"] = size // 2
        out = run_librispeech(tmp_path, mirror.url, "--distill")
        assert mirror.ranged_gets("train-clean-100.tar.gz") == [f"bytes={size // 2}-"]
        for stage in range(9):
            assert f"stage {stage}:" in out
        exp = tmp_path / "exp"
        results = (exp / "RESULTS.md").read_text()
        for subset in ("dev-clean", "dev-other", "test-clean", "test-other"):
            for method in ("greedy", "beam", "beam_lm"):
                assert f"| {subset} | {method} |" in results
        assert "best: " in (exp / "tune.txt").read_text()
        assert (exp / "perplexity.txt").read_text().count("perplexity") == 3
        # the LM text is the mirror's LM corpus, sampled; the recipe downloaded it md5-checked
        lm_text = (tmp_path / "data" / "lm" / "train.txt").read_text().split()
        assert lm_text
        # beam search kept to the LM text's most frequent words, a copy of them in the tuned package
        lexicon = (tmp_path / "data" / "lm" / "lexicon.txt").read_text().split()
        assert set(lexicon) == set(lm_text)  # the tiny LM text has fewer than 200,000 distinct words
        assert "lexicon: lexicon.txt" in (exp / "model" / "config.yaml").read_text()
        assert (exp / "model" / "lexicon.txt").read_text().split() == lexicon
        beam = (exp / "eval" / "test-clean.beam_lm.per_utt.tsv").read_text().splitlines()[1:]
        assert all(set(row.split("\t")[5].split()) <= set(lexicon) for row in beam)
        # OpenSLR's word 3-gram (here the mirror's), downloaded md5-checked, tuned in the lexicon beam after the
        # LSTM LM; the package keeps its weights and a copy of it whichever decoding won on dev-clean
        assert "best: " in (exp / "tune_ngram.txt").read_text()
        assert (exp / "tune_ngram.tsv").read_text().count("beam_ngram") == 16  # 4 weights x 4 word bonuses
        decode = yaml.safe_load((exp / "model" / "config.yaml").read_text())["decode"]
        assert decode["ngram"] == "ngram.arpa" and (exp / "model" / "ngram.arpa").read_bytes() == \
            (tmp_path / "data" / "download" / "3-gram.pruned.1e-7.arpa").read_bytes()
        # --distill (default --teacher-args "--pool 2 --int8"): a byte per value, a state per 40 ms, every cut
        teacher = tmp_path / "data" / "teacher"
        states, cuts = TeacherStates(teacher), list(load_cuts(tmp_path / "data" / "manifests" /
                                                              "librispeech_cuts_train-clean-100.jsonl.gz"))
        assert states.dtype == "int8" and (teacher / "states.i8").is_file() and len(states) == len(cuts) == 12
        assert all(states.get(c.id).shape == (-(-c.num_samples // 640), 384) for c in cuts)
        config = yaml.safe_load(next((exp / "hydra").rglob("config.yaml")).read_text())
        assert config["distill"]["dir"] == str(teacher) and config["distill"]["weight"] == 1.0
        distill = [float(r["train/distill"]) for r in csv.DictReader((exp / "csv" / "version_0" / "metrics.csv").open())
                   if r.get("train/distill")]
        assert distill and all(math.isfinite(d) for d in distill)
        downloads = len(mirror.requests)
        again = run_librispeech(tmp_path, mirror.url, "--distill")
        for stage in range(9):
            assert f"stage {stage} (" in again and "done already, skipping" in again
        assert "teacher states" not in again  # stage 3 is done: its teacher is not asked again
        assert len(mirror.requests) == downloads  # nothing fetched again


def test_resume_arg_picks_the_newest_checkpoint(tmp_path):
    """Stage 3 of the recipes continues an interrupted run from its newest checkpoint: a mid-epoch step checkpoint
    when it is newer than last.ckpt (written at epoch ends); nothing when there is none. Paths with spaces stay one
    argument."""
    stages = RUN.parent.parent / "shared" / "stages.sh"
    exp = tmp_path / "my exp"

    def resume_arg() -> list[str]:
        script = f'. "{stages}"; r=$(resume_arg "$1"); for a in ${{r:+"$r"}}; do echo "$a"; done'
        out = subprocess.run(["bash", "-c", script, "bash", str(exp)], capture_output=True, text=True, check=True)
        return out.stdout.splitlines()

    assert resume_arg() == []
    (exp / "checkpoints").mkdir(parents=True)
    for i, name in enumerate(["step000004.ckpt", "last.ckpt", "step000007.ckpt"]):
        (exp / "checkpoints" / name).write_bytes(b"")
        os.utime(exp / "checkpoints" / name, (1_000_000 + i, 1_000_000 + i))
    assert resume_arg() == [f"resume={exp}/checkpoints/step000007.ckpt"]
    os.utime(exp / "checkpoints" / "last.ckpt", (2_000_000, 2_000_000))
    assert resume_arg() == [f"resume={exp}/checkpoints/last.ckpt"]


def test_stage_and_stop_stage_are_honoured_by_both_recipes(tmp_path, tiny_librispeech):
    from mirror import Mirror

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    mini = ["bash", str(RUN), "--plan", "tiny", "--data-dir", str(tmp_path / "m"), "--exp-dir", str(tmp_path / "me")]
    first = subprocess.run([*mini, "--stop-stage", "1"], capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "stage 0:" in first.stdout and "stage 1:" in first.stdout and "stage 2" not in first.stdout
    assert (tmp_path / "m" / "manifests").is_dir() and not (tmp_path / "m" / "cmvn.json").exists()
    second = subprocess.run([*mini, "--stage", "2", "--stop-stage", "2"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "stage 2:" in second.stdout and "stage 1" not in second.stdout and "stage 3" not in second.stdout
    assert (tmp_path / "m" / "cmvn.json").is_file() and not (tmp_path / "me" / "model").exists()
    with Mirror(tiny_librispeech) as mirror:
        # the optional word 3-gram arrives damaged (md5 mismatch): stage 0 says so and finishes without it
        mirror.overrides["3-gram.pruned.1e-7.arpa.gz"] = b"damaged"
        libri = subprocess.run(["bash", str(LIBRISPEECH_RUN), "--size", "100", "--ngpu", "0", "--base-url", mirror.url,
                                "--data-dir", str(tmp_path / "l"), "--exp-dir", str(tmp_path / "le"),
                                "--stop-stage", "0"], capture_output=True, text=True, env=env, timeout=600)
    assert libri.returncode == 0, libri.stderr[-2000:]
    assert "stage 0:" in libri.stdout and "stage 1" not in libri.stdout
    assert (tmp_path / "l" / "download" / "LibriSpeech" / "dev-clean" / ".completed").is_file()
    assert not (tmp_path / "l" / "manifests").exists()
    assert "no word 3-gram" in libri.stdout and "3-gram.pruned.1e-7.arpa.gz: md5" in libri.stderr
    assert not (tmp_path / "l" / "download" / "3-gram.pruned.1e-7.arpa").exists()
