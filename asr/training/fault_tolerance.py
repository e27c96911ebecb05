"""Exact resume after any interruption, kill -9 included: checkpoints written atomically (a temporary file, fsync,
rename: a kill mid-write leaves the previous checkpoint, never a truncated one under a checkpoint's name) and
carrying the random state of every process (torch, numpy, Python; under DDP each rank's, gathered into the one
checkpoint rank 0 writes), restored on resume, so dropout continues with the masks the interrupted run would have
drawn. Augmentation does not use that state at all: each training batch seeds
its own from (seed, epoch, batch index) (``AsrDataset``), and the loaders draw their worker seeds from their own
generator, so the global state is consumed by the training steps only."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def _process_rng_state() -> dict[str, Any]:
    """Tensors, ints and tuples only: checkpoints load with ``weights_only=True`` (never a pickle)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss))}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_process_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _distributed() -> tuple[int, int]:
    """(rank, world size) of the process group, (0, 1) without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class RngState(Callback):
    """The random state of every process in every checkpoint, put back when a run resumes from it. Lightning calls
    ``state_dict`` on every rank when it saves (only rank 0 writes), so under DDP the ranks' states are gathered
    there: rank r resumes with its own state, not rank 0's (each rank draws its own dropout masks)."""

    def state_dict(self) -> dict[str, Any]:
        state = _process_rng_state()
        _, world = _distributed()
        if world == 1:
            return {"rng": state}
        ranks: list[Any] = [None] * world
        torch.distributed.all_gather_object(ranks, state)  # between the run's own processes, not from a file
        return {"rng_ranks": ranks}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        ranks = state_dict.get("rng_ranks") or ([state_dict["rng"]] if state_dict.get("rng") else [])
        if not ranks:
            return
        rank, world = _distributed()
        # a checkpoint of another number of processes (a single-process one included): every rank takes the first
        _set_process_rng_state(ranks[rank] if len(ranks) == world else ranks[0])
