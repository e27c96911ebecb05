"""Starting training runs under Hydra: `asr train` and `asr lm train` call ``train`` / ``train_lm`` here.

Lightning's DDP launcher starts the other ranks as ``python <sys.argv[0]> <overrides>`` (or ``python -m
<__main__.__spec__.name> <overrides>`` when started with ``-m``): both are pointed at the training module
(``asr.training.train`` / ``asr.training.train_lm``), whose ``__main__`` block calls back into this module with the
same overrides, so every rank trains with the same configuration.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any


def config_dir() -> Path:
    """conf/ of a source checkout (editable install), else the copy shipped inside the wheel as asr/conf."""
    shipped = Path(str(resources.files("asr"))) / "conf"
    repo = Path(__file__).resolve().parent.parent.parent / "conf"
    return shipped if shipped.is_dir() else repo


def hydra_run(module: str, config_name: str, task: Callable, argv: list[str]) -> int:
    """Run ``task(cfg)`` under Hydra with ``argv`` as overrides, as if ``python -m module argv`` had been run."""
    import hydra

    import __main__

    spec = importlib.util.find_spec(module)
    sys.argv = [spec.origin, *argv]
    if getattr(__main__, "__spec__", None) is not None:
        __main__.__spec__ = spec

    @functools.wraps(task)
    def reported(cfg):  # a bad input is a one-line error naming it, not Hydra's traceback
        try:
            return task(cfg)
        except (FileNotFoundError, ValueError) as e:
            command = "lm train" if config_name == "lm_train" else "train"
            print(f"asr {command}: error: {e}", file=sys.stderr)
            raise SystemExit(1) from None

    hydra.main(config_path=str(config_dir()), config_name=config_name, version_base="1.3")(reported)()
    return 0


def job_dir(cfg: Any) -> Path:
    """``exp_dir``; in a Hydra sweep (``-m``) each job's own directory under ``exp_dir/multirun/``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:  # not running under Hydra (tests, library use)
        return Path(cfg.exp_dir)
    return Path(hydra_cfg.runtime.output_dir) if hydra_cfg.mode == RunMode.MULTIRUN else Path(cfg.exp_dir)


def train(argv: list[str]) -> int:
    from asr.training.train import run_training

    return hydra_run("asr.training.train", "train", run_training, argv)


def train_lm(argv: list[str]) -> int:
    from asr.training.train_lm import run_lm_training

    return hydra_run("asr.training.train_lm", "lm_train", run_lm_training, argv)
