"""`asr train`: build data, system and Trainer from the composed Hydra config, train, export the best model."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from omegaconf import DictConfig, ListConfig, OmegaConf

from asr.atomic import write_text_atomic
from asr.cuts import filter_cuts, load_cuts
from asr.data import AsrDataset, compute_cmvn
from asr.decoding.bundle import write_decoding
from asr.distill import TeacherStates
from asr.features import CMVNStats, FeatureConfig
from asr.models.acoustic import AcousticConfig
from asr.models.whisper_encoder import load_whisper_encoder
from asr.package import (
    load_package,
    module_state,
    package_from_checkpoint,
    read_checkpoint,
    save_package,
)
from asr.text import DEFAULT_TOKENS, Tokenizer
from asr.training.callbacks import StepCheckpoint, TrackTrainBatches, WeightNoise
from asr.training.ctc_system import CTCSystem, validation_decoder
from asr.training.datamodule import AsrDataModule
from asr.training.launch import job_dir
from asr.training.trainer import make_trainer

log = logging.getLogger(__name__)


def _plain(cfg: Any) -> Any:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, (DictConfig, ListConfig)) else cfg


def init_weights(model: torch.nn.Module, source: str | Path) -> None:
    """Start from the weights of a model package or an `asr train` checkpoint (same architecture)."""
    source = Path(source)
    if source.is_dir():
        state = load_package(source).model.state_dict()
    else:
        state = module_state(read_checkpoint(source)["state_dict"])
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{source}: its weights do not fit this model's configuration ({e})") from e
    log.info("weights initialized from %s", source)


def run_training(cfg: DictConfig) -> Path:
    """Train from ``cfg`` (see conf/train.yaml); returns the exported model package directory."""
    L.seed_everything(cfg.seed, workers=True)
    exp_dir = job_dir(cfg)
    exp_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(DEFAULT_TOKENS)
    decode = _plain(cfg.get("decode")) or {"method": "greedy"}
    decoder = validation_decoder(decode, tokenizer)  # a wrong method or a missing file: an error now
    features = FeatureConfig(**_plain(cfg.features))
    data = cfg.data
    model_config = AcousticConfig(**_plain(cfg.model))
    factor = model_config.frames_per_output
    if bool(model_config.encoder) != (features.kind == "whisper"):
        raise ValueError(f"model.encoder={model_config.encoder!r} with features.kind={features.kind!r}: the Whisper "
                         "encoder reads Whisper's features (features=whisper), and only it does")

    train_cuts, train_skips = filter_cuts(load_cuts(data.train_cuts), tokenizer, factor,
                                          data.max_utterance_duration, features, name="train")
    dev_cuts, dev_skips = filter_cuts(load_cuts(data.dev_cuts), tokenizer, factor, float("inf"), features,
                                      name="dev")
    if len(train_cuts) == 0:
        raise ValueError(f"{data.train_cuts}: no usable training utterance")

    if data.get("cmvn"):
        cmvn = CMVNStats.load(data.cmvn)
    else:
        cmvn = compute_cmvn(train_cuts, features)
        cmvn.save(exp_dir / "cmvn.json")

    distill = _plain(cfg.get("distill")) or {}
    teacher = TeacherStates(distill["dir"]) if distill.get("dir") else None
    distill_weight = float(distill.get("weight", 0.2))
    if teacher is not None:
        covered = sum(teacher.has(c.id) for c in train_cuts)
        if covered == 0:
            raise ValueError(f"distill.dir={distill['dir']}: none of the {len(train_cuts)} training cuts has states "
                             "there (made for other manifests?)")
        log.info("distillation: %d of %d training cuts have teacher states (%s), weight %s", covered,
                 len(train_cuts), teacher.directory, distill_weight)
    train_set = AsrDataset(tokenizer, features, list(data.speed_perturb or []), _plain(data.spec_augment),
                           _plain(data.get("noise")), _plain(data.get("augment")), cfg.seed, teacher=teacher)
    datamodule = AsrDataModule(train_cuts, dev_cuts, train_set, AsrDataset(tokenizer, features), data.max_duration,
                               data.num_buckets, data.num_workers, cfg.seed,
                               cut_log_dir=exp_dir / "cuts_seen" if cfg.trainer.get("log_cut_ids") else None)
    log.info("train: %d utterances (%.2f h), dev: %d", len(train_cuts),
             sum(c.duration for c in train_cuts) / 3600, len(dev_cuts))

    t = cfg.trainer
    system = CTCSystem(model=_plain(cfg.model), optim=_plain(cfg.optim), tokens=tokenizer.tokens,
                       features=_plain(cfg.features), decode=decode, decoder=decoder,
                       distill={"dim": teacher.dim, "weight": distill_weight,
                                "layer": distill.get("layer")} if teacher else None)
    if system.model.encoder is not None and not cfg.get("init_from"):  # a resumed run's checkpoint has them too
        load_whisper_encoder(system.model.encoder, cfg.get("pretrained_encoder"))
    if cfg.get("init_from"):
        init_weights(system.model, cfg.init_from)
    system.model.normalizer.set_stats(cmvn)

    checkpoint = ModelCheckpoint(dirpath=exp_dir / "checkpoints", filename="epoch{epoch:03d}-wer{val/wer:.4f}",
                                 monitor="val/wer", mode="min", save_top_k=t.get("save_top_k", 3), save_last=True,
                                 auto_insert_metric_name=False)
    callbacks = [checkpoint, LearningRateMonitor(logging_interval="step"), TrackTrainBatches(datamodule)]
    if t.get("checkpoint_every_n_steps"):
        callbacks.append(StepCheckpoint(dirpath=exp_dir / "checkpoints", filename="step{step:06d}",
                                        every_n_train_steps=t.checkpoint_every_n_steps, save_top_k=-1,
                                        auto_insert_metric_name=False))
    if cfg.optim.get("weight_noise"):
        callbacks.append(WeightNoise(cfg.optim.weight_noise))
    average_last = int(t.get("average_last") or 0)
    if average_last > 1:  # keep the last N epochs' checkpoints, averaged into the exported package
        epochs = ModelCheckpoint(dirpath=exp_dir / "checkpoints", filename="avg-epoch{epoch:03d}", monitor="epoch",
                                 mode="max", save_top_k=average_last, auto_insert_metric_name=False)
        callbacks.append(epochs)
    # the bucketing sampler's epochs differ in length: the loader is asked for again (and its length) every epoch
    trainer = make_trainer(t, exp_dir, callbacks, grad_clip=cfg.optim.get("grad_clip"), use_distributed_sampler=False,
                           reload_dataloaders_every_n_epochs=1)
    trainer.fit(system, datamodule=datamodule, ckpt_path=cfg.get("resume"), weights_only=True)

    if trainer.global_rank != 0:
        return exp_dir / "model"
    best = checkpoint.best_model_path or checkpoint.last_model_path
    if average_last > 1:
        best = sorted(str(p) for p in (exp_dir / "checkpoints").glob("avg-epoch*.ckpt"))[-average_last:]
    package = package_from_checkpoint(best)
    best_wer = checkpoint.best_model_score
    package.meta.update({"cmvn_frames": cmvn.frames, "dev_wer": float(best_wer) if best_wer is not None else None,
                         "averaged_epochs": average_last if average_last > 1 else None,
                         "train_utterances": len(train_cuts), "padding_waste": round(datamodule.padding_waste, 4),
                         "train_hours": round(sum(c.duration for c in train_cuts) / 3600, 3),
                         "train_cuts": _plain(data.train_cuts), "dev_decode": decode.get("method", "greedy")})
    out = save_package(package, exp_dir / "model")
    write_decoding(out, decode)  # with copies of its lexicon, n-gram and LM
    summary = {"model": str(out), "best_checkpoint": best, "dev_wer": package.meta["dev_wer"],
               "dev_decode": package.meta["dev_decode"],
               "padding_waste": datamodule.padding_waste, "train_skipped": dict(train_skips),
               "dev_skipped": dict(dev_skips)}
    write_text_atomic(exp_dir / "train_summary.json", json.dumps(summary, indent=2) + "\n")
    log.info(f"best dev WER {package.meta['dev_wer']}, padding waste {100 * datamodule.padding_waste:.1f}%; "
             f"model package: {out}")
    return out


if __name__ == "__main__":  # how Lightning's DDP launcher re-runs `asr train` in its child processes
    from asr.training.launch import train

    train(sys.argv[1:])
