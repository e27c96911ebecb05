"""`asr lm train`: train the character LSTM LM from the composed Hydra config (conf/lm_train.yaml)."""

from __future__ import annotations

import json
import logging
import random
import sys
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from asr.atomic import write_text_atomic
from asr.lm_data import lm_loader, perplexity, read_sentences
from asr.lm_package import lm_package_from_checkpoint, save_lm_package
from asr.text import DEFAULT_TOKENS, Tokenizer
from asr.training.callbacks import SetEpoch
from asr.training.launch import job_dir
from asr.training.lm_system import LMSystem
from asr.training.trainer import make_trainer

log = logging.getLogger(__name__)


def run_lm_training(cfg: DictConfig) -> Path:
    L.seed_everything(cfg.seed)
    exp_dir = job_dir(cfg)
    exp_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(DEFAULT_TOKENS)
    train, _ = read_sentences(list(cfg.train_text) if not isinstance(cfg.train_text, str) else cfg.train_text,
                              tokenizer, cfg.max_chars)
    if cfg.get("dev_text"):
        dev, _ = read_sentences(cfg.dev_text, tokenizer, cfg.max_chars)
    else:  # hold out a deterministic share of the training text
        random.Random(cfg.seed).shuffle(train)
        n_dev = max(1, int(len(train) * cfg.dev_share))
        dev, train = train[:n_dev], train[n_dev:]
    if cfg.get("max_sentences"):  # a deterministic sample, for quick runs
        random.Random(cfg.seed).shuffle(train)
        train = train[:cfg.max_sentences]
    if not train or not dev:
        raise ValueError(f"{cfg.train_text}: too few usable sentences for an LM ({len(train)} for training, "
                         f"{len(dev)} for dev)")
    log.info("LM text: %d training sentences (%d characters), %d dev", len(train), sum(map(len, train)), len(dev))
    train_loader = lm_loader(train, cfg.batch_tokens, shuffle=True, seed=cfg.seed)
    dev_loader = lm_loader(dev, cfg.batch_tokens, shuffle=False)

    model_cfg = OmegaConf.to_container(cfg.lm, resolve=True)
    system = LMSystem(model=model_cfg, optim=OmegaConf.to_container(cfg.optim, resolve=True),
                      tokens=tokenizer.tokens)
    t = cfg.trainer
    system.total_steps = len(train_loader) * t.max_epochs
    checkpoint = ModelCheckpoint(dirpath=exp_dir / "checkpoints", filename="epoch{epoch:03d}-ppl{val/ppl:.3f}",
                                 monitor="val/ppl", mode="min", save_top_k=1, save_last=True,
                                 auto_insert_metric_name=False)
    trainer = make_trainer(t, exp_dir, [checkpoint, SetEpoch(train_loader.dataset),
                                        EarlyStopping("val/ppl", patience=cfg.early_stopping_patience, mode="min")],
                           grad_clip=cfg.optim.get("grad_clip"))
    trainer.fit(system, train_loader, dev_loader, ckpt_path=cfg.get("resume"), weights_only=True)
    if trainer.global_rank != 0:
        return exp_dir / "lm"
    package = lm_package_from_checkpoint(checkpoint.best_model_path or checkpoint.last_model_path)
    ppl, bpc, _ = perplexity(package.model, dev)
    package.meta.update({"dev_perplexity": ppl, "dev_bpc": bpc, "train_sentences": len(train)})
    out = save_lm_package(package, exp_dir / "lm")
    write_text_atomic(exp_dir / "lm_summary.json", json.dumps({"lm": str(out), **package.meta}, indent=2) + "\n")
    log.info(f"LM dev perplexity {ppl:.3f} ({bpc:.3f} bits/char); LM package: {out}")
    return out


if __name__ == "__main__":  # how Lightning's DDP launcher re-runs `asr lm train` in its child processes
    from asr.training.launch import train_lm

    train_lm(sys.argv[1:])
