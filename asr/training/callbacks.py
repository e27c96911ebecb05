"""Lightning callbacks of the training runs: what the loops need from the data (batch counting for exact resume,
epoch numbers for shuffling, which cuts were seen) lives here, so the LightningModules never probe their loaders."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint


class TrackTrainBatches(Callback):
    """Before each training batch: count it in the loader's resumable state (exact mid-epoch resume counts batches
    the loop really trained on) and, if asked, log its cut ids (see ``AsrDataModule.log_cuts``)."""

    def __init__(self, datamodule: Any):
        self.datamodule = datamodule

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self.datamodule.train_loader.batch_trained()
        self.datamodule.log_cuts(trainer.global_rank, trainer.current_epoch, batch.cut_ids)


class SetEpoch(Callback):
    """Tell a dataset or sampler which epoch starts (its shuffling is seeded by it)."""

    def __init__(self, target: Any):
        self.target = target

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.target.set_epoch(trainer.current_epoch)


class StepCheckpoint(ModelCheckpoint):
    """Checkpoints every N training steps for mid-epoch resume, except at an epoch's last batch: the end-of-epoch
    checkpoint (after validation) covers that step, and Lightning cannot resume exactly from a step saved at an
    epoch's last batch when the next epoch has more batches (the bucketing sampler's epochs vary): it counts the
    finished epoch's batches as already done in the next one."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if batch_idx + 1 < trainer.num_training_batches:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


class WeightNoise(Callback):
    """Gaussian weight noise (Graves, "Practical variational inference for neural networks", 2011; used for the
    deep BiLSTM CTC models of Graves et al., ICASSP 2013): for every training batch, each weight of the model gets
    noise of standard deviation ``std``; the gradient is computed at the noisy weights and applied to the clean
    ones. A regularizer that makes the network's function flat around its weights, usually applied by fine-tuning a
    converged model. The clean weights are back before every optimizer step and after every batch, so validation,
    checkpoints and the exported package never see noise."""

    def __init__(self, std: float):
        if std <= 0:
            raise ValueError(f"weight noise std must be > 0, not {std}")
        self.std = float(std)
        self._clean: list[tuple[torch.nn.Parameter, torch.Tensor]] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._restore()
        with torch.no_grad():
            for p in pl_module.parameters():
                if p.requires_grad:
                    self._clean.append((p, p.detach().clone()))
                    p.add_(torch.randn_like(p), alpha=self.std)

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        self._restore()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._restore()  # a batch without a step (no usable utterance, gradient accumulation)

    def _restore(self) -> None:
        with torch.no_grad():
            for p, clean in self._clean:
                p.copy_(clean)
        self._clean = []
