"""The Lightning system that trains the character LSTM LM: cross-entropy, dev perplexity for early stopping."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch

from asr.models.lm import CharLM, LMConfig, token_log_probs
from asr.training.optim import make_optimizer, make_scheduler


class LMSystem(L.LightningModule):
    def __init__(self, model: dict[str, Any], optim: dict[str, Any], tokens: list[str]):
        super().__init__()
        self.save_hyperparameters()
        self.model = CharLM(LMConfig(**{**model, "vocab_size": len(tokens)}))
        self.optim_cfg = optim
        self.total_steps: int | None = None  # set by the caller, see CTCSystem.total_steps
        self._nll, self._tokens = 0.0, 0

    def _nll_sum(self, batch) -> tuple[torch.Tensor, int]:
        inputs, targets, lengths = batch
        return -token_log_probs(self.model, inputs, targets, lengths).sum(), int(lengths.sum())

    def training_step(self, batch, batch_idx: int):
        nll, tokens = self._nll_sum(batch)
        loss = nll / tokens
        self.log("train/loss", loss, prog_bar=True)
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"])
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        nll, tokens = self._nll_sum(batch)
        self._nll += float(nll)
        self._tokens += tokens

    def on_validation_epoch_end(self) -> None:
        t = self.trainer.strategy.reduce(torch.tensor([self._nll, self._tokens], dtype=torch.float64,
                                                      device=self.device), reduce_op="sum")
        per_token = (t[0] / t[1].clamp_min(1)).item()
        self.log("val/ppl", math.exp(per_token), prog_bar=True)
        self.log("val/bpc", per_token / math.log(2), prog_bar=True)
        self._nll, self._tokens = 0.0, 0

    def configure_optimizers(self):
        optimizer = make_optimizer(self.model.parameters(), self.optim_cfg)
        total = self.total_steps or int(self.trainer.estimated_stepping_batches)
        scheduler = make_scheduler(optimizer, self.optim_cfg, total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
