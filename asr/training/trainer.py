"""One place that turns the ``trainer`` config group into a Lightning Trainer (acoustic model and LM alike)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from asr.training.fault_tolerance import AtomicCheckpointIO, RngState


class _NoAdvert(logging.Filter):
    """Lightning advertises a cloud logger at every run's start ("💡 Tip: ... litlogger"): not for a toolkit's
    users, whose logs are TensorBoard and CSV files."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


_rank_zero_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
if not any(isinstance(f, _NoAdvert) for f in _rank_zero_log.filters):
    _rank_zero_log.addFilter(_NoAdvert())


def make_trainer(t: Any, exp_dir: Path, callbacks: list[Callback], grad_clip: float | None = None,
                 **overrides: Any) -> L.Trainer:
    """``t``: the composed ``trainer`` group (conf/trainer/*.yaml); TensorBoard + CSV logs under ``exp_dir``.

    The progress bar is tqdm's wherever the run is (Lightning would switch to rich's where ``rich`` happens to be
    installed); into a file or pipe (``nohup ... > train.log``) it is redrawn every 50 steps, not every step, so a
    long run's log stays readable.
    """
    bar = TQDMProgressBar(refresh_rate=1 if sys.stdout.isatty() else 50)
    args = dict(
        default_root_dir=exp_dir, max_epochs=t.max_epochs, max_steps=t.get("max_steps", -1),
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.get("num_nodes", 1), strategy=t.strategy,
        precision=t.precision, gradient_clip_val=grad_clip or None,
        accumulate_grad_batches=t.get("accumulate_grad_batches", 1), log_every_n_steps=t.log_every_n_steps,
        check_val_every_n_epoch=t.get("check_val_every_n_epoch", 1),
        num_sanity_val_steps=t.get("num_sanity_val_steps", 0), deterministic=t.get("deterministic", False),
        logger=[TensorBoardLogger(exp_dir, name="tensorboard"), CSVLogger(exp_dir, name="csv")],
        callbacks=[*callbacks, RngState(), bar], enable_progress_bar=True, plugins=[AtomicCheckpointIO()],
    )
    args.update(overrides)
    return L.Trainer(**args)
