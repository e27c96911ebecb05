"""Kill -9 in the middle of training, resume as the recipes do, and get the run that was never interrupted: the
same weights bit for bit and the same logged losses (all but, possibly, the row of the step the kill followed: the
loggers write it after that step's checkpoint), with dropout, speed perturbation and SpecAugment on (every real
configuration). Checkpoints are written atomically: a kill (or a failure) mid-write never leaves a truncated
checkpoint under a checkpoint's name."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

OVERRIDES = ["experiment=tiny", "model.num_layers=2", "model.dropout=0.3", "data.max_duration=13", "seed=7",
             "data.speed_perturb=[0.9,1.1]", "trainer.max_epochs=4", "trainer.checkpoint_every_n_steps=1",
             "data.spec_augment={num_frame_masks: 2, features_mask_size: 10, frames_mask_size: 20}",
             "trainer.deterministic=true"]


def train(manifests: Path, exp: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "asr.cli", "train", *OVERRIDES, f"data.manifest_dir={manifests}",
                             f"exp_dir={exp}", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]


def losses(exp: Path) -> dict[int, str]:
    """step -> train/loss as logged (the CSV text: bit-exact comparison), over every logger version of the run."""
    out = {}
    for path in sorted(exp.glob("csv/version_*/metrics.csv")):
        with open(path) as f:
            for row in csv.DictReader(f):
                if row.get("train/loss"):
                    out[int(row["step"])] = row["train/loss"]
    return out


def newest_checkpoint(exp: Path) -> Path:
    """What recipes/shared/stages.sh's resume_arg picks: the newest of last.ckpt and the step checkpoints."""
    found = list((exp / "checkpoints").glob("last.ckpt")) + list((exp / "checkpoints").glob("step*.ckpt"))
    return max(found, key=lambda p: p.stat().st_mtime_ns)


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_uninterrupted_run(tiny_manifests, tmp_path):
    straight = tmp_path / "straight"
    finish(train(tiny_manifests, straight))
    reference = torch.load(straight / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    steps = reference["global_step"]
    assert steps >= 8

    for kill_at in sorted(random.Random(0).sample(range(2, steps - 3), 2)):  # two random steps, mid-run
        exp = tmp_path / f"killed_at_{kill_at}"
        proc = train(tiny_manifests, exp)
        target = exp / "checkpoints" / f"step{kill_at:06d}.ckpt"
        deadline = time.monotonic() + 300
        while not target.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "training ended before the kill point"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        for ckpt in (exp / "checkpoints").glob("*.ckpt"):  # every file under a checkpoint's name is whole
            torch.load(ckpt, map_location="cpu", weights_only=True)
        resume_from = newest_checkpoint(exp)
        finish(train(tiny_manifests, exp, f"resume={resume_from}"))
        resumed = torch.load(exp / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        assert resumed["global_step"] == steps
        for name, tensor in reference["state_dict"].items():
            assert torch.equal(resumed["state_dict"][name], tensor), f"{name} differs after a kill at step {kill_at}"
        got, want = losses(exp), losses(straight)
        assert got and all(got[step] == want[step] for step in got)  # every logged loss is the straight run's
        # the loggers write a step's row after its checkpoint: the row of the step the kill followed can be lost
        resumed_at = torch.load(resume_from, map_location="cpu", weights_only=True)["global_step"]
        assert set(want) - set(got) <= {resumed_at - 1, resumed_at}, sorted(set(want) - set(got))


def test_a_failure_mid_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    from asr.training.fault_tolerance import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1, "w": torch.ones(3)}, path)

    def dies_halfway(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("No space left on device")

    def disk_gone(fd):
        raise OSError("Input/output error")

    for target, fake in ((torch, "save"), (os, "fsync")):  # while serializing; after writing, before the rename
        with monkeypatch.context() as m:
            m.setattr(target, fake, dies_halfway if fake == "save" else disk_gone)
            with pytest.raises(OSError):
                io.save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
        assert torch.load(path, weights_only=True)["step"] == 1
        assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind


def _draw() -> tuple:
    """One draw from each random state a checkpoint carries: torch, numpy, Python."""
    import numpy as np

    return torch.rand(3), torch.from_numpy(np.random.rand(3)), random.random()


def _same(got: tuple, expected: tuple) -> bool:
    return torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1]) and got[2] == expected[2]


def test_checkpoints_carry_the_random_state_and_put_it_back():
    import numpy as np

    from asr.training.fault_tolerance import RngState

    callback = RngState()
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    state = callback.state_dict()
    expected = _draw()
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    callback.load_state_dict(state)
    assert _same(_draw(), expected)


def _ddp_rank_saves_then_resumes(rank: int, world: int, init_file: str, out: str) -> None:
    """One DDP rank: seeded differently from the others, checkpointed (rank 0 writes, as Lightning does), re-seeded,
    then resumed from that one file; writes what it drew after the checkpoint and after resuming."""
    import numpy as np

    from asr.training.fault_tolerance import RngState

    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(100 + rank), np.random.seed(100 + rank), random.seed(100 + rank)
        state = RngState().state_dict()  # every rank calls it, as Lightning's save_checkpoint does
        expected = _draw()
        if rank == 0:
            torch.save(state, Path(out) / "last.ckpt")
        torch.distributed.barrier()
        torch.manual_seed(0), np.random.seed(0), random.seed(0)
        RngState().load_state_dict(torch.load(Path(out) / "last.ckpt", weights_only=True))
        torch.save({"expected": expected, "got": _draw()}, Path(out) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_checkpoint_gives_every_rank_its_own_random_state_back(tmp_path):
    """Under DDP only rank 0 writes the checkpoint: each rank's random state must still be in it, and each rank must
    get its own back on resume (rank 1 continuing with rank 0's dropout masks is not the uninterrupted run)."""
    torch.multiprocessing.spawn(_ddp_rank_saves_then_resumes, args=(2, str(tmp_path / "init"), str(tmp_path)),
                                nprocs=2)
    draws = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for rank, d in enumerate(draws):
        assert _same(d["got"], d["expected"]), f"rank {rank}"
    assert not torch.equal(draws[0]["got"][0], draws[1]["got"][0])  # the ranks' states did differ


@pytest.mark.slow
def test_lm_train_killed_then_resumed_gives_the_uninterrupted_lm(tiny_corpus, tmp_path):
    """The same for `asr lm train` (dropout on): killed after its first epoch's checkpoint, resumed from last.ckpt."""
    lines = (tiny_corpus / "lm-text.txt").read_text().splitlines()[:400]
    text = tmp_path / "lm.txt"
    text.write_text("\n".join(lines) + "\n")

    def lm_train(exp: Path, *extra: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "asr.cli", "lm", "train", f"train_text={text}",
                                 f"exp_dir={exp}", "lm.hidden_size=32", "lm.embed_dim=16", "lm.dropout=0.3",
                                 "trainer.max_epochs=3", "early_stopping_patience=10", "trainer.deterministic=true",
                                 *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    finish(lm_train(tmp_path / "straight"))
    reference = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    exp = tmp_path / "killed"
    proc = lm_train(exp)
    deadline = time.monotonic() + 300
    while not (exp / "checkpoints" / "last.ckpt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the LM run ended before the kill point"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finish(lm_train(exp, f"resume={newest_checkpoint(exp)}"))
    resumed = torch.load(exp / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert resumed["global_step"] == reference["global_step"]
    for name, tensor in reference["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name
