"""`asr train`: build data, system and Trainer from the composed Hydra config, train, export the best model."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from asr.data import AsrDataset, compute_cmvn, filter_cuts, load_cuts, make_loader, padding_waste
from asr.features import CMVNStats, FeatureConfig
from asr.package import package_from_checkpoint, save_package
from asr.text import DEFAULT_TOKENS, Tokenizer
from asr.training.ctc_system import CTCSystem

log = logging.getLogger(__name__)


def _plain(cfg: Any) -> Any:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def job_dir(cfg: DictConfig) -> Path:
    """``exp_dir``; in a Hydra sweep (``-m``) each job's own directory under ``exp_dir/multirun/``."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:  # not running under Hydra (tests, library use)
        return Path(cfg.exp_dir)
    return Path(hydra_cfg.runtime.output_dir) if hydra_cfg.mode == RunMode.MULTIRUN else Path(cfg.exp_dir)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def run_training(cfg: DictConfig) -> Path:
    """Train from ``cfg`` (see conf/train.yaml); returns the exported model package directory."""
    L.seed_everything(cfg.seed, workers=True)
    exp_dir = job_dir(cfg)
    exp_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(DEFAULT_TOKENS)
    features = FeatureConfig(**_plain(cfg.features))
    data = cfg.data
    factor = int(cfg.model.subsampling_factor)

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

    train_set = AsrDataset(tokenizer, features, list(data.speed_perturb or []), _plain(data.spec_augment))
    dev_set = AsrDataset(tokenizer, features)
    loader_args = {"num_workers": data.num_workers, "seed": cfg.seed}
    if data.num_workers:
        loader_args["worker_init_fn"] = _worker_init
    train_loader = make_loader(train_cuts, train_set, data.max_duration, shuffle=True,
                               num_buckets=data.num_buckets, drop_last=False, **loader_args)
    dev_loader = make_loader(dev_cuts, dev_set, data.max_duration, shuffle=False, num_buckets=data.num_buckets,
                             **loader_args)
    waste = padding_waste(train_loader)
    log.info("train: %d utterances (%.2f h), dev: %d; padding waste per batch: %.1f%%", len(train_cuts),
             sum(c.duration for c in train_cuts) / 3600, len(dev_cuts), 100 * waste)

    t = cfg.trainer
    system = CTCSystem(model=_plain(cfg.model), optim=_plain(cfg.optim), tokens=tokenizer.tokens,
                       features=_plain(cfg.features))
    system.model.normalizer.set_stats(cmvn)
    steps_per_epoch = -(-len(train_loader) // t.get("accumulate_grad_batches", 1))
    max_steps = t.get("max_steps", -1)
    system.total_steps = max_steps if max_steps > 0 else steps_per_epoch * t.max_epochs

    checkpoint = ModelCheckpoint(dirpath=exp_dir / "checkpoints", filename="epoch{epoch:03d}-wer{val/wer:.4f}",
                                 monitor="val/wer", mode="min", save_top_k=t.get("save_top_k", 3), save_last=True,
                                 auto_insert_metric_name=False)
    callbacks = [checkpoint, LearningRateMonitor(logging_interval="step")]
    if t.get("checkpoint_every_n_steps"):
        callbacks.append(ModelCheckpoint(dirpath=exp_dir / "checkpoints", filename="step{step:06d}",
                                         every_n_train_steps=t.checkpoint_every_n_steps, save_top_k=-1,
                                         auto_insert_metric_name=False))
    trainer = L.Trainer(
        default_root_dir=exp_dir, max_epochs=t.max_epochs, max_steps=t.get("max_steps", -1),
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.get("num_nodes", 1), strategy=t.strategy,
        precision=t.precision, gradient_clip_val=cfg.optim.get("grad_clip") or None,
        accumulate_grad_batches=t.get("accumulate_grad_batches", 1),
        log_every_n_steps=t.log_every_n_steps, check_val_every_n_epoch=t.get("check_val_every_n_epoch", 1),
        num_sanity_val_steps=t.get("num_sanity_val_steps", 0), use_distributed_sampler=False,
        logger=[TensorBoardLogger(exp_dir, name="tensorboard"), CSVLogger(exp_dir, name="csv")],
        callbacks=callbacks, deterministic=t.get("deterministic", False), enable_progress_bar=True,
    )
    trainer.fit(system, train_loader, dev_loader, ckpt_path=cfg.get("resume"), weights_only=True)

    if trainer.global_rank != 0:
        return exp_dir / "model"
    best = checkpoint.best_model_path or checkpoint.last_model_path
    package = package_from_checkpoint(best)
    best_wer = checkpoint.best_model_score
    package.meta.update({"cmvn_frames": cmvn.frames, "dev_wer": float(best_wer) if best_wer is not None else None,
                         "train_utterances": len(train_cuts), "padding_waste": round(waste, 4)})
    out = save_package(package, exp_dir / "model")
    summary = {"model": str(out), "best_checkpoint": best, "dev_wer": package.meta["dev_wer"],
               "padding_waste": waste, "train_skipped": dict(train_skips), "dev_skipped": dict(dev_skips)}
    (exp_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"best dev WER {package.meta['dev_wer']}, padding waste {100 * waste:.1f}%; model package: {out}")
    return out
