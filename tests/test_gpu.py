"""The GPU path: cuDNN on packed sequences, mixed precision, `asr train trainer=gpu` (resume, DDP launch), GPU
inference. Skipped where no CUDA GPU is (CI has none); on a GPU machine: `bash tools/gpu_check.sh`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from asr.data import Batch
from asr.models.acoustic import AcousticConfig, AcousticModel
from asr.package import load_package
from asr.text import DEFAULT_TOKENS, Tokenizer
from asr.training.ctc_system import CTCSystem
from asr.training.train import run_training
from test_training import final_weights, tiny_cfg

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CONFIGS = [AcousticConfig(num_layers=2, hidden_size=48),
           AcousticConfig(num_layers=2, hidden_size=48, rnn="gru"),
           AcousticConfig(num_layers=2, hidden_size=48, projection_size=40, subsampling="conv", subsampling_factor=4),
           AcousticConfig(num_layers=2, hidden_size=48, normalization="utterance"),
           AcousticConfig(num_layers=2, hidden_size=48, subsampling="conv2d", normalization="utterance_mv")]
IDS = ["blstm", "bgru", "blstmp-conv", "utterance-norm", "conv2d-utterance-mv"]  # the last: experiment=general_extra


@pytest.fixture(autouse=True)
def no_tf32():
    """Exact fp32 on the GPU for the comparisons (TF32 matmuls differ from the CPU by ~1e-3)."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def random_batch(device: str, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([160, 97, 131, 64])
    feats = torch.randn(4, 160, 80, generator=g)
    for i, n in enumerate(lengths):
        feats[i, n:] = 0.0
    tokenizer = Tokenizer(DEFAULT_TOKENS)
    texts = ["HELLO WORLD", "A CAT", "SPEECH ON A GPU", "NO"]
    ids = [torch.tensor(tokenizer.encode(t)) for t in texts]
    tokens = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True)
    return Batch(feats.to(device), lengths.to(device), tokens.to(device), torch.tensor([len(i) for i in ids]).to(device),
                 texts, [f"u{i}" for i in range(4)], 0)


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_gpu_packed_path_equals_cpu_padded_path(cfg):
    """The GPU runs cuDNN on packed sequences, the CPU oneDNN on padded ones: same weights, same outputs, and
    an item's output does not depend on its padding or on the other items of its batch."""
    torch.manual_seed(0)
    model = AcousticModel(cfg).eval()
    batch = random_batch("cpu")
    batch.features[1, 97:] = 7.0  # garbage padding
    cpu = model(batch.features, batch.feature_lengths)
    gpu = model.cuda()(batch.features.cuda(), batch.feature_lengths.cuda())
    assert gpu.log_probs.is_cuda and gpu.log_probs.dtype == torch.float32
    assert torch.equal(gpu.lengths.cpu(), cpu.lengths)
    for i, n in enumerate(cpu.lengths.tolist()):
        torch.testing.assert_close(gpu.log_probs[i, :n].cpu(), cpu.log_probs[i, :n], atol=2e-4, rtol=0)
    alone = model(batch.features[3:, :64].cuda(), batch.feature_lengths[3:].cuda())
    n = int(cpu.lengths[3])
    torch.testing.assert_close(alone.log_probs[0, :n], gpu.log_probs[3, :n], atol=2e-4, rtol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_mixed_precision_ctc_loss_is_fp32_finite_and_close(dtype):
    """Under autocast the LSTM runs in half precision and the CTC loss in fp32: finite, within a few per cent of
    the fp32 loss, finite gradients for every weight."""
    torch.manual_seed(0)
    system = CTCSystem(model={"num_layers": 3, "hidden_size": 64, "dropout": 0.0}, optim={"name": "adam", "lr": 1e-3},
                       tokens=DEFAULT_TOKENS).cuda()
    batch = random_batch("cuda")
    reference, _ = system.ctc_loss(batch)
    with torch.autocast("cuda", dtype=dtype):
        loss, out = system.ctc_loss(batch)
    assert loss.dtype == torch.float32 and out.log_probs.dtype == torch.float32
    assert torch.isfinite(loss) and abs(loss.item() - reference.item()) < 0.03 * reference.item()
    loss.backward()
    for name, p in system.model.named_parameters():
        if name.startswith("normalizer"):
            continue
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.fixture(scope="module")
def gpu_run(tiny_manifests, tmp_path_factory):
    exp = tmp_path_factory.mktemp("gpu")
    run_training(tiny_cfg(tiny_manifests, exp, "trainer=gpu"))
    return exp


def test_train_on_gpu_bf16_writes_a_package_that_decodes_on_cpu(gpu_run, tiny_corpus):
    """`asr train trainer=gpu` (bf16-mixed, deterministic): the package it exports loads and decodes on the CPU, and
    the CPU and the GPU transcribe a file to the same text."""
    from asr.transcribe import load_model

    metrics = (gpu_run / "csv" / "version_0" / "metrics.csv").read_text()
    assert "val/wer" in metrics and "nan" not in metrics.lower()
    summary = json.loads((gpu_run / "train_summary.json").read_text())
    pkg = load_package(summary["model"])
    assert next(pkg.model.parameters()).device.type == "cpu"
    flac = sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))[0]
    cpu, gpu = load_model(summary["model"]), load_model(summary["model"], device="cuda")
    a, b = cpu.transcribe(flac), gpu.transcribe(flac)
    assert a.text == b.text and a.duration == pytest.approx(b.duration)


def test_gpu_resume_continues_exactly(gpu_run, tiny_manifests, tmp_path):
    """Resuming a GPU run from its end-of-epoch-0 checkpoint (model, optimizer, sampler and CPU + CUDA random
    state) gives the weights of the uninterrupted run."""
    reference, total_steps = final_weights(gpu_run)
    (ckpt,) = gpu_run.glob("checkpoints/epoch000-*.ckpt")
    exp = tmp_path / "resumed"
    run_training(tiny_cfg(tiny_manifests, exp, "trainer=gpu", f"resume={ckpt}"))
    resumed, steps = final_weights(exp)
    assert steps == total_steps
    for name, tensor in reference.items():
        torch.testing.assert_close(resumed[name], tensor, atol=1e-5, rtol=1e-4, msg=name)


def test_ddp_launch_on_the_gpu_from_the_console_command(tiny_manifests, tmp_path):
    """`asr train trainer=gpu trainer.strategy=ddp` as users start it: NCCL process group, every visible GPU."""
    asr_cmd = Path(sys.executable).parent / "asr"
    if not asr_cmd.exists():
        pytest.skip(f"{asr_cmd}: the console script is not installed")
    exp = tmp_path / "ddp"
    devices = torch.cuda.device_count()
    proc = subprocess.run([str(asr_cmd), "train", "experiment=tiny", "trainer=gpu", f"data.manifest_dir={tiny_manifests}",
                           f"exp_dir={exp}", "data.max_duration=12", "trainer.strategy=ddp", f"trainer.devices={devices}",
                           "trainer.log_cut_ids=true", "trainer.max_epochs=1"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (exp / "checkpoints" / "last.ckpt").is_file() and (exp / "model" / "model.safetensors").is_file()
    seen = [(exp / "cuts_seen" / f"rank{r}.epoch0.txt").read_text().split() for r in range(devices)]
    assert all(seen)
