"""`asr train` internals: exact resume (end of epoch and mid-epoch), export of the best model."""

import csv
import json
from collections import Counter

import pytest
import torch
from hydra import compose, initialize_config_dir
from safetensors.torch import load_file

from asr.package import load_package
from asr.training.launch import config_dir
from asr.training.train import run_training


def tiny_cfg(manifests, exp_dir, *overrides):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="train", overrides=[
            # seed 42, 13 s batches: the bucketing sampler gives epoch 0 five batches and epoch 1 six
            "experiment=tiny", f"data.manifest_dir={manifests}", f"exp_dir={exp_dir}", "data.max_duration=13",
            "seed=42",
            "trainer.checkpoint_every_n_steps=1", "trainer.deterministic=true", *overrides])


def final_weights(exp_dir):
    ckpt = torch.load(exp_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return ckpt["state_dict"], ckpt["global_step"]


@pytest.fixture(scope="module")
def straight_run(tiny_manifests, tmp_path_factory):
    exp = tmp_path_factory.mktemp("straight")
    run_training(tiny_cfg(tiny_manifests, exp))
    return exp


def test_training_writes_package_logs_and_summary(straight_run):
    exp = straight_run
    pkg = load_package(exp / "model")
    assert pkg.model.config.hidden_size == 32 and len(pkg.tokenizer) == 29
    assert (exp / "model" / "cmvn.json").is_file()
    assert (exp / "model" / "model.safetensors").is_file()
    summary = json.loads((exp / "train_summary.json").read_text())
    assert 0 <= summary["padding_waste"] < 1
    # the exported model is the best checkpoint: its dev WER is the lowest one validation logged
    logged = [float(r["val/wer"]) for r in csv.DictReader(open(exp / "csv" / "version_0" / "metrics.csv"))
              if r.get("val/wer")]
    assert summary["dev_wer"] == pytest.approx(min(logged))
    assert list((exp / "tensorboard").rglob("events.out.tfevents.*"))
    metrics = list(csv.DictReader(open(exp / "csv" / "version_0" / "metrics.csv")))
    assert any(row["train/loss"] for row in metrics)
    # validation after every epoch, although the bucketing sampler gives the epochs different numbers of batches
    assert sorted(int(row["epoch"]) for row in metrics if row.get("val/wer")) == [0, 1]
    assert all(row["val/cer"] for row in metrics if row.get("val/wer"))
    steps_per_epoch = Counter(int(row["epoch"]) for row in metrics if row["train/loss"])
    assert steps_per_epoch[0] != steps_per_epoch[1], "the tiny data should give epochs of different lengths"
    # the normalization statistics computed from the training data are inside the package
    stats = json.loads((exp / "cmvn.json").read_text())
    torch.testing.assert_close(pkg.model.normalizer.mean, torch.tensor(stats["mean"]))
    assert load_file(exp / "model" / "model.safetensors")["normalizer.std"].min() > 0


@pytest.mark.slow
@pytest.mark.parametrize("resume_from", ["end of epoch 0", "mid-epoch 1"])
def test_resume_continues_exactly(straight_run, tiny_manifests, tmp_path, resume_from):
    """Resuming gives the weights of the uninterrupted run, also where the next epoch has more batches than the one
    the checkpoint ended (step checkpoints skip an epoch's last batch: the end-of-epoch one covers it)."""
    reference, total_steps = final_weights(straight_run)
    epoch_of_step = {int(p.stem[4:]): torch.load(p, map_location="cpu", weights_only=True)["epoch"]
                     for p in straight_run.glob("checkpoints/step*.ckpt")}
    epoch0 = max(step for step, epoch in epoch_of_step.items() if epoch == 0) + 1  # batches in epoch 0
    assert sorted(epoch_of_step) == [s for s in range(1, total_steps) if s != epoch0]
    assert 2 <= epoch0 < total_steps - epoch0, "the test needs a longer epoch after a shorter one"
    if resume_from == "end of epoch 0":
        (ckpt,) = straight_run.glob("checkpoints/epoch000-*.ckpt")
    else:
        ckpt = straight_run / "checkpoints" / f"step{epoch0 + 1:06d}.ckpt"
    exp = tmp_path / "resumed"
    run_training(tiny_cfg(tiny_manifests, exp, f"resume={ckpt}"))
    resumed, resumed_steps = final_weights(exp)
    assert resumed_steps == total_steps
    for name, tensor in reference.items():
        torch.testing.assert_close(resumed[name], tensor, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.slow
def test_ddp_two_processes_see_different_utterances_and_export(tiny_manifests, tiny_corpus, tmp_path):
    """`asr train` with 2 CPU processes (DDP, gloo): each rank trains on its own batches; the result transcribes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    asr_cmd = Path(sys.executable).parent / "asr"  # the console script, as users start it
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    exp = tmp_path / "ddp"
    proc = subprocess.run([str(asr_cmd), "train", "experiment=tiny", f"data.manifest_dir={tiny_manifests}",
                           f"exp_dir={exp}", "data.max_duration=12", "seed=48", "trainer.devices=2",
                           "trainer.strategy=ddp",
                           "trainer.log_cut_ids=true", "trainer.max_epochs=1"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = {rank: (exp / "cuts_seen" / f"rank{rank}.epoch0.txt").read_text().split() for rank in (0, 1)}
    assert seen[0] and seen[1]
    assert len(seen[0]) + len(seen[1]) >= 10  # together they cover (nearly) the 12 training utterances
    assert len(set(seen[0]) & set(seen[1])) <= 2  # lhotse may repeat a cut or two to give the ranks equal steps
    ckpt = exp / "checkpoints" / "last.ckpt"
    subprocess.run([str(asr_cmd), "export", str(ckpt), str(tmp_path / "pkg")], check=True, env=env, timeout=300)
    flac = sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))[0]
    out = subprocess.run([str(asr_cmd), "transcribe", str(tmp_path / "pkg"), str(flac), "--json"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[0])["source"] == str(flac)


def test_init_from_a_package_or_checkpoint_for_fine_tuning(straight_run):
    from asr.models.acoustic import AcousticConfig, AcousticModel
    from asr.training.train import init_weights

    pkg = load_package(straight_run / "model")
    for source in (straight_run / "model", straight_run / "checkpoints" / "last.ckpt"):
        fresh = AcousticModel(pkg.model.config)
        init_weights(fresh, source)
        weights = fresh.state_dict()["rnns.0.weight_ih_l0"]
        expected = load_package(straight_run / "model").model.state_dict()["rnns.0.weight_ih_l0"]
        if source.is_dir():
            torch.testing.assert_close(weights, expected)
        else:  # last.ckpt: the last epoch (the package holds the best one): same shapes, trained values
            assert weights.shape == expected.shape and weights.abs().sum() > 0
    wider = AcousticModel(AcousticConfig(**{**pkg.model.config.__dict__, "hidden_size": 48}))
    with pytest.raises(ValueError, match="do not fit"):
        init_weights(wider, straight_run / "model")


def test_weight_noise_is_in_the_training_forward_pass_only(straight_run, tiny_manifests, tmp_path):
    """optim.weight_noise: the training loss is computed at noisy weights, while the weights the optimizer steps
    from, validation and the checkpoints stay clean (with lr 0 the weights end exactly where they started)."""
    runs = {}
    for std in (0.0, 0.3):
        exp = tmp_path / f"noise{std}"
        run_training(tiny_cfg(tiny_manifests, exp, f"init_from={straight_run / 'model'}", "optim.lr=0.0",
                              f"optim.weight_noise={std}", "trainer.max_epochs=1"))
        rows = list(csv.DictReader(open(exp / "csv" / "version_0" / "metrics.csv")))
        runs[std] = ([float(r["train/loss"]) for r in rows if r.get("train/loss")],
                     [float(r["val/loss"]) for r in rows if r.get("val/loss")], final_weights(exp)[0])
    start = load_package(straight_run / "model").model.state_dict()
    (clean_train, clean_val, clean_weights), (noisy_train, noisy_val, noisy_weights) = runs[0.0], runs[0.3]
    for name, value in noisy_weights.items():
        if name.startswith("model.") and "normalizer" not in name:
            torch.testing.assert_close(value, start[name.removeprefix("model.")], rtol=0, atol=0)
            torch.testing.assert_close(value, clean_weights[name], rtol=0, atol=0)
    assert len(noisy_train) == len(clean_train) > 0
    assert all(n != c for n, c in zip(noisy_train, clean_train))
    assert sum(noisy_train) > sum(clean_train)  # noise on trained weights costs loss
    assert noisy_val == clean_val


def test_weight_noise_must_be_positive():
    from asr.training.callbacks import WeightNoise

    with pytest.raises(ValueError, match="weight noise"):
        WeightNoise(-0.1)


def test_distillation_trains_from_the_config_and_exports_the_plain_model(straight_run, tiny_manifests, tmp_path):
    """distill.dir/weight/layer from the command line: the distillation loss is logged, the exported package has
    exactly the weights of a model trained without it; states for none of the training cuts: an error first."""
    import numpy as np

    from asr.corpora.librispeech import cuts_path
    from asr.cuts import load_cuts
    from asr.distill import TeacherStatesWriter

    cuts = list(load_cuts(cuts_path(tiny_manifests, "train-clean-5")))
    teacher = tmp_path / "teacher"
    with TeacherStatesWriter(teacher, dim=16, frame_shift=0.02) as writer:
        for i, cut in enumerate(cuts):
            writer.add(cut.id, np.random.default_rng(i).normal(size=(round(cut.duration / 0.02), 16)))
    exp = tmp_path / "distilled"
    run_training(tiny_cfg(tiny_manifests, exp, f"init_from={straight_run / 'model'}", f"distill.dir={teacher}",
                          "distill.weight=0.5", "distill.layer=1", "trainer.max_epochs=1"))
    rows = list(csv.DictReader(open(exp / "csv" / "version_0" / "metrics.csv")))
    assert any(r.get("train/distill") for r in rows) and any(r.get("train/ctc") for r in rows)
    plain = load_file(straight_run / "model" / "model.safetensors")
    distilled = load_file(exp / "model" / "model.safetensors")
    assert distilled.keys() == plain.keys()
    assert not torch.equal(distilled["output.weight"], plain["output.weight"])  # trained on
    elsewhere = tmp_path / "elsewhere"
    with TeacherStatesWriter(elsewhere, dim=16, frame_shift=0.02) as writer:
        writer.add("some-other-cut", np.zeros((5, 16)))
    with pytest.raises(ValueError, match="none of the .* training cuts has states"):
        run_training(tiny_cfg(tiny_manifests, tmp_path / "x", f"distill.dir={elsewhere}"))
