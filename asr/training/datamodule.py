"""The acoustic model's data as a LightningDataModule.

Loaders are built in ``setup``, once the process knows its DDP rank, so that lhotse's bucketing sampler gives every
rank different batches (and the same number of them). The number of batches varies a little from epoch to epoch:
the trainer reloads (asks for) the train loader every epoch, and gets it set to the epoch about to run, so that
Lightning's batch count, progress bar and end-of-epoch validation are right for every epoch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lhotse import CutSet

from asr.data import AsrDataset, ResumableLoader, make_loader, padding_waste

log = logging.getLogger(__name__)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


class AsrDataModule(L.LightningDataModule):
    def __init__(self, train_cuts: CutSet, dev_cuts: CutSet, train_set: AsrDataset, dev_set: AsrDataset,
                 max_duration: float, num_buckets: int = 10, num_workers: int = 0, seed: int = 0,
                 cut_log_dir: Path | None = None):
        super().__init__()
        self.train_cuts, self.dev_cuts = train_cuts, dev_cuts
        self.train_set, self.dev_set = train_set, dev_set
        self.max_duration, self.num_buckets, self.num_workers, self.seed = max_duration, num_buckets, num_workers, seed
        self.cut_log_dir = cut_log_dir  # if set: which cuts each rank trained on, per epoch (rank<r>.epoch<e>.txt)
        self.train_loader: ResumableLoader | None = None
        self.dev_loader: ResumableLoader | None = None
        self.padding_waste = 0.0

    def setup(self, stage: str) -> None:
        if self.train_loader is not None:
            return
        world_size, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer else (1, 0)
        args: dict[str, Any] = {"num_workers": self.num_workers, "seed": self.seed, "world_size": world_size,
                                "rank": rank}
        if self.num_workers:
            args["worker_init_fn"] = _worker_init
        self.train_loader = make_loader(self.train_cuts, self.train_set, self.max_duration, shuffle=True,
                                        num_buckets=self.num_buckets, **args)
        self.dev_loader = make_loader(self.dev_cuts, self.dev_set, self.max_duration, shuffle=False,
                                      num_buckets=self.num_buckets, **args)
        self.padding_waste = padding_waste(self.train_loader)
        log.info("rank %d/%d: %d training batches in epoch 0; padding waste per batch %.1f%%", rank, world_size,
                 self.steps_per_epoch(), 100 * self.padding_waste)

    def steps_per_epoch(self) -> int:
        """Training batches of this rank in the current epoch (they vary a little from epoch to epoch)."""
        assert self.train_loader is not None, "call setup() first"
        return len(self.train_loader.sampler)

    def train_dataloader(self) -> ResumableLoader:
        if self.trainer is not None:  # called before the epoch starts: its length is the coming epoch's
            self.train_loader.sampler.set_epoch(self.trainer.current_epoch)
        return self.train_loader

    def val_dataloader(self) -> ResumableLoader:
        return self.dev_loader

    def log_cuts(self, rank: int, epoch: int, cut_ids: list[str]) -> None:
        if self.cut_log_dir is not None:
            self.cut_log_dir.mkdir(parents=True, exist_ok=True)
            with open(self.cut_log_dir / f"rank{rank}.epoch{epoch}.txt", "a") as f:
                f.write("".join(f"{c}\n" for c in cut_ids))
