"""The Lightning system that trains the acoustic model: CTC loss (fp32), optimizer + schedule, validation WER/CER."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from asr.data import Batch
from asr.distill import distill_loss
from asr.decoding.greedy import greedy_decode
from asr.models.acoustic import AcousticConfig, AcousticModel, AcousticOutput
from asr.scoring import ErrorCounts, char_errors, word_errors
from asr.text import Tokenizer
from asr.training.optim import make_optimizer, make_scheduler

log = logging.getLogger(__name__)


class CTCSystem(L.LightningModule):
    """Owns the loss, the optimizer and decoding for metrics; the model itself is a plain ``AcousticModel``."""

    def __init__(self, model: dict[str, Any], optim: dict[str, Any], tokens: list[str],
                 features: dict[str, Any] | None = None, decode: dict[str, Any] | None = None, decoder=None,
                 distill: dict[str, Any] | None = None):
        """``decode``: the `decode` config group (conf/decode), how the dev set is decoded for its WER/CER;
        ``decoder``: the one ``validation_decoder`` built from it, if the caller has it (else built when needed);
        ``distill``: {dim, weight, layer} when batches carry teacher states (asr.distill): a linear head from the
        recurrent output (or that of recurrent ``layer``, 1-based) to them, trained beside CTC with that weight (the
        model itself, and its package, stay as they are)."""
        super().__init__()
        # plain dicts and lists only: checkpoints load with weights_only=True
        self.save_hyperparameters(ignore=["decoder"])
        self.tokenizer = Tokenizer(tokens)
        self.model = AcousticModel(AcousticConfig(**{**model, "vocab_size": len(tokens)}))
        self.optim_cfg = optim
        self._val_words = ErrorCounts()
        self._val_chars = ErrorCounts()
        self._skipped = 0
        self.decode_cfg = dict(decode or {"method": "greedy"})
        self._decoder = decoder  # else built at the first validation step (flashlight's, in this process)
        self.distill_weight = float((distill or {}).get("weight", 0.0))
        self.distill_layer = (distill or {}).get("layer")
        if self.distill_layer is not None and not 1 <= self.distill_layer <= self.model.config.num_layers:
            raise ValueError(f"distill.layer must be 1 .. {self.model.config.num_layers} (a recurrent layer), got "
                             f"{self.distill_layer}")
        self.distill_head = (nn.Linear(self.model.hidden_size_out, int(distill["dim"]))
                             if distill and self.distill_weight > 0 else None)
        # Optimizer steps of the whole run, for the LR schedule (see ``_total_steps``).
        self.total_steps: int | None = None

    def ctc_loss(self, batch: Batch, out: AcousticOutput | None = None) -> tuple[torch.Tensor, AcousticOutput]:
        """The CTC loss per utterance (summed over its frames, averaged over the batch) of ``out``, the model's
        output for the batch (computed here if not given), and that output."""
        out = out if out is not None else self.model(batch.features, batch.feature_lengths)
        log_probs, tokens, lengths, token_lengths = out.log_probs, batch.tokens, out.lengths, batch.token_lengths
        if log_probs.is_cuda and torch.are_deterministic_algorithms_enabled():
            # CUDA's CTC backward has no deterministic kernel (it raises): the CPU's is, and small (vocab 29)
            log_probs, tokens, lengths, token_lengths = (t.cpu() for t in (log_probs, tokens, lengths, token_lengths))
        with torch.autocast(device_type=log_probs.device.type, enabled=False):  # CTC in fp32 under mixed precision
            loss = F.ctc_loss(log_probs.float().transpose(0, 1), tokens, lengths, token_lengths,
                              blank=self.tokenizer.blank_id, reduction="sum", zero_infinity=True)
        loss = loss.to(out.log_probs.device)
        return loss / max(1, len(batch.texts)), out

    def training_step(self, batch: Batch, batch_idx: int):
        self._skipped += batch.skipped
        if not batch.texts:
            return None
        if self.distill_head is not None and batch.teacher is not None:
            out, hidden = self.model.forward_with_hidden(batch.features, batch.feature_lengths, self.distill_layer)
            loss, _ = self.ctc_loss(batch, out)
            distill = distill_loss(self.distill_head(hidden), out.lengths, *batch.teacher)
            self.log("train/ctc", loss, batch_size=len(batch.texts))
            self.log("train/distill", distill, prog_bar=True, batch_size=len(batch.texts))
            loss = loss + self.distill_weight * distill
        else:
            loss, _ = self.ctc_loss(batch)
        frames = int(batch.feature_lengths.sum())
        padded = batch.features.shape[0] * batch.features.shape[1]
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch.texts))
        self.log("train/padding", 1 - frames / max(padded, 1), batch_size=len(batch.texts))
        self.log("train/utts_skipped", float(self._skipped), reduce_fx="max")
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], prog_bar=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        if not batch.texts:
            return
        loss, out = self.ctc_loss(batch)
        hyps = self.decode(out.log_probs, out.lengths)
        self._val_words = self._val_words + word_errors(batch.texts, hyps)
        self._val_chars = self._val_chars + char_errors(batch.texts, hyps)
        self.log("val/loss", loss, batch_size=len(batch.texts), sync_dist=True)
        if batch_idx == 0 and self.global_rank == 0:
            log.info("REF: %s\nHYP: %s", batch.texts[0], hyps[0])

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        """(batch, time, vocab) log-probs + lengths -> texts, decoded as the `decode` config says."""
        if self.decode_cfg.get("method", "greedy") == "greedy":
            return greedy_decode(log_probs, lengths, self.tokenizer)
        if self._decoder is None:
            self._decoder = validation_decoder(self.decode_cfg, self.tokenizer)
        return [d.text for d in self._decoder([log_probs[b, :n] for b, n in enumerate(lengths.tolist())])]

    def on_validation_epoch_end(self) -> None:
        counts = torch.tensor([self._val_words.errors, self._val_words.reference_length, self._val_chars.errors,
                               self._val_chars.reference_length], dtype=torch.float64, device=self.device)
        counts = self.trainer.strategy.reduce(counts, reduce_op="sum")  # over ranks
        wer, cer = (counts[0] / counts[1].clamp_min(1)).item(), (counts[2] / counts[3].clamp_min(1)).item()
        self.log("val/wer", wer, prog_bar=True)
        self.log("val/cer", cer, prog_bar=True)
        self._val_words, self._val_chars = ErrorCounts(), ErrorCounts()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A run resumed with distillation switched on or off since its checkpoint: said plainly, before
        Lightning's strict load names only the distillation head's weights as unexpected or missing."""
        trained = any(k.startswith("distill_head.") for k in checkpoint.get("state_dict", {}))
        if trained != (self.distill_head is not None):
            was, now = ("with", "without") if trained else ("without", "with")
            raise ValueError(f"this checkpoint was trained {was} distillation and the run resuming it is {now} it: "
                             "resume with the run's own distill settings (the recipes: the same --distill), or "
                             "start a new run from its package with init_from=")

    def configure_optimizers(self):
        # the model's trainable weights (not a frozen pretrained encoder's) and the distillation head's; the
        # encoder's trainable top layers (model.encoder_trainable_layers) at optim.encoder_lr_scale x the rate
        encoder = self.model.encoder
        tuned = [p for p in encoder.parameters() if p.requires_grad] if encoder is not None else []
        rest = [p for p in self.parameters() if p.requires_grad and all(p is not q for q in tuned)]
        groups = [{"params": rest}]
        if tuned:
            scale = float(self.optim_cfg.get("encoder_lr_scale", 0.1))
            groups.append({"params": tuned, "lr": float(self.optim_cfg["lr"]) * scale})
        optimizer = make_optimizer(groups, self.optim_cfg)
        total = self._total_steps()
        scheduler = make_scheduler(optimizer, self.optim_cfg, total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _total_steps(self) -> int:
        """Optimizer steps of the whole run: ``total_steps`` if set, else max_steps, else epochs x this rank's batches
        per epoch from the datamodule (set up by now). Never Lightning's ``estimated_stepping_batches``: it sets up
        the train loader before a checkpoint's loader state is restored, and the bucketing sampler's epochs vary."""
        if self.total_steps:
            return self.total_steps
        trainer = self.trainer
        if trainer.max_steps > 0:
            return trainer.max_steps
        datamodule = trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "steps_per_epoch"):
            raise RuntimeError("CTCSystem needs total_steps, trainer.max_steps or an AsrDataModule")
        per_epoch = -(-datamodule.steps_per_epoch() // trainer.accumulate_grad_batches)
        return per_epoch * max(1, trainer.max_epochs)


def validation_decoder(decode: dict[str, Any], tokenizer: Tokenizer):
    """The decoder of the `decode` config (beam search, with its lexicon, n-gram or LSTM LM, on the CPU)."""
    from asr.decoding.bundle import decode_config_settings
    from asr.decoding.settings import make_decoder

    settings, lm_path = decode_config_settings(decode)
    if lm_path is None:
        return make_decoder(settings, tokenizer)
    from asr.lm_package import load_lm_for

    return make_decoder(settings, tokenizer, load_lm_for(lm_path, tokenizer))
