"""`asr train` internals: exact resume (end of epoch and mid-epoch), export of the best model."""

import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from safetensors.torch import load_file

from asr.cli import config_dir
from asr.package import load_package
from asr.training.train import run_training


def tiny_cfg(manifests, exp_dir, *overrides):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="train", overrides=[
            "experiment=tiny", f"data.manifest_dir={manifests}", f"exp_dir={exp_dir}", "data.max_duration=12",
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
    assert 0 <= summary["dev_wer"] and 0 <= summary["padding_waste"] < 1
    assert list((exp / "tensorboard").rglob("events.out.tfevents.*"))
    metrics = (exp / "csv" / "version_0" / "metrics.csv").read_text()
    assert "train/loss" in metrics and "val/wer" in metrics and "val/cer" in metrics
    # the normalization statistics computed from the training data are inside the package
    stats = json.loads((exp / "cmvn.json").read_text())
    torch.testing.assert_close(pkg.model.normalizer.mean, torch.tensor(stats["mean"]))
    assert load_file(exp / "model" / "model.safetensors")["normalizer.std"].min() > 0


@pytest.mark.parametrize("resume_from", ["end of epoch 0", "mid-epoch 1"])
def test_resume_continues_exactly(straight_run, tiny_manifests, tmp_path, resume_from):
    reference, total_steps = final_weights(straight_run)
    steps = sorted(straight_run.glob("checkpoints/step*.ckpt"))
    per_epoch = total_steps // 2
    assert per_epoch >= 2, "the test needs at least two batches per epoch"
    step = per_epoch if resume_from == "end of epoch 0" else per_epoch + 1
    ckpt = next(p for p in steps if p.name == f"step{step:06d}.ckpt")
    exp = tmp_path / "resumed"
    run_training(tiny_cfg(tiny_manifests, exp, f"resume={ckpt}"))
    resumed, resumed_steps = final_weights(exp)
    assert resumed_steps == total_steps
    for name, tensor in reference.items():
        torch.testing.assert_close(resumed[name], tensor, atol=1e-6, rtol=1e-5, msg=name)
