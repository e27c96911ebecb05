"""Optimizers (Adam, AdamW, SGD with momentum, RMSprop) and the warmup + decay learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


def make_optimizer(params: Iterable[torch.nn.Parameter], cfg: dict[str, Any]) -> torch.optim.Optimizer:
    name, lr, wd = cfg["name"].lower(), float(cfg["lr"]), float(cfg.get("weight_decay", 0.0))
    if name in ("adam", "adamw"):  # AdamW: decoupled weight decay
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return cls(params, lr=lr, betas=tuple(cfg.get("betas", (0.9, 0.98))), weight_decay=wd,
                   eps=float(cfg.get("eps", 1e-8)))
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(cfg.get("momentum", 0.9)), weight_decay=wd,
                               nesterov=bool(cfg.get("nesterov", True)))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=float(cfg.get("alpha", 0.99)), weight_decay=wd,
                                   momentum=float(cfg.get("momentum", 0.0)), eps=float(cfg.get("eps", 1e-8)))
    raise ValueError(f"unknown optimizer {cfg['name']!r}: choose adam, adamw, sgd or rmsprop")


def lr_factor(step: int, total_steps: int, warmup_steps: int, decay: str, final_ratio: float) -> float:
    """Linear warmup to 1, then ``cosine`` / ``exponential`` / ``linear`` decay to ``final_ratio``, or ``none``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if decay == "none":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if decay == "cosine":
        return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if decay == "exponential":
        return final_ratio ** progress
    if decay == "linear":
        return 1 - (1 - final_ratio) * progress
    raise ValueError(f"unknown decay {decay!r}: choose cosine, exponential, linear or none")


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: dict[str, Any], total_steps: int):
    sched = cfg.get("scheduler", {}) or {}
    warmup = int(sched.get("warmup_steps", 0))
    decay, final_ratio = sched.get("decay", "cosine"), float(sched.get("final_lr_ratio", 0.05))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup, decay, final_ratio))
