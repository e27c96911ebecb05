"""Every config file is composed; command-line overrides work as documented."""


from dataclasses import fields

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from asr.decoding.config import DecodeSettings
from asr.features import FeatureConfig
from asr.models.acoustic import AcousticConfig, AcousticModel
from asr.training.launch import config_dir
from asr.training.optim import make_optimizer, make_scheduler

CONF = config_dir()
GROUP_FILES = sorted((p.parent.name, p.stem) for p in CONF.glob("*/*.yaml") if p.parent.name != "lm")
LM_FILES = sorted(p.stem for p in CONF.glob("lm/*.yaml"))


def compose_train(overrides, config_name="train"):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)


def test_every_group_has_files():
    groups = {g for g, _ in GROUP_FILES}
    assert {"data", "features", "model", "optim", "trainer", "decode", "experiment"} <= groups and LM_FILES


@pytest.mark.parametrize("group, name", GROUP_FILES, ids=[f"{g}/{n}" for g, n in GROUP_FILES])
def test_every_config_file_composes(group, name):
    cfg = compose_train([f"{group}={name}"])
    plain = OmegaConf.to_container(cfg, resolve=True)
    model = AcousticModel(AcousticConfig(**plain["model"]))
    FeatureConfig(**plain["features"])
    optimizer = make_optimizer(model.parameters(), plain["optim"])
    make_scheduler(optimizer, plain["optim"], total_steps=100)
    assert plain["trainer"]["max_epochs"] >= 1
    assert plain["data"]["train_cuts"].endswith(".jsonl.gz")
    decode = {k: v for k, v in plain["decode"].items() if k != "lm"}  # the LM package: a path the user gives
    assert set(decode) <= {f.name for f in fields(DecodeSettings)}, "a decode setting no decoder reads"
    assert DecodeSettings.from_dict(decode).method == (name if group == "decode" else "greedy")


@pytest.mark.parametrize("name", LM_FILES)
@pytest.mark.parametrize("optim", ["adam", "sgd"])
def test_every_lm_config_composes(name, optim):
    from asr.models.lm import CharLM, LMConfig

    cfg = OmegaConf.to_container(compose_train([f"lm={name}", f"optim={optim}"], "lm_train"), resolve=True)
    model = CharLM(LMConfig(**cfg["lm"]))
    make_scheduler(make_optimizer(model.parameters(), cfg["optim"]), cfg["optim"], total_steps=10)
    assert cfg["trainer"]["max_epochs"] >= 1 and cfg["batch_tokens"] > 0


def test_documented_override_example():
    cfg = compose_train(["experiment=mini", "model.num_layers=3", "optim=sgd"])
    assert cfg.model.num_layers == 3 and cfg.optim.name == "sgd" and cfg.exp_dir == "exp/mini"


def test_unknown_override_is_an_error():
    with pytest.raises(Exception, match="model.no_such_key"):
        compose_train(["model.no_such_key=1"])


def test_librispeech_experiments_build_their_augmentation_and_960_extends_100():
    from asr.data import AsrDataset
    from asr.text import Tokenizer

    small = OmegaConf.to_container(compose_train(["experiment=librispeech_100", "trainer=gpu"]), resolve=True)
    big = OmegaConf.to_container(compose_train(["experiment=librispeech_960", "trainer=gpu"]), resolve=True)
    assert big["model"]["hidden_size"] > small["model"]["hidden_size"] and big["data"]["max_duration"] == 800
    assert big["data"]["spec_augment"] == small["data"]["spec_augment"]  # inherited
    assert small["trainer"]["precision"] == "bf16-mixed" and small["trainer"]["average_last"] == 5
    dataset = AsrDataset(Tokenizer(), speed_perturb=small["data"]["speed_perturb"],
                         spec_augment=small["data"]["spec_augment"])
    assert dataset.spec_augment is not None
    assert [type(t).__name__ for t in dataset.transforms] == ["PerturbSpeed"]


@pytest.mark.parametrize("tty, refresh", [(True, 1), (False, 50)])
def test_trainer_progress_bar_is_tqdm_and_sparse_in_a_log_file(tmp_path, monkeypatch, tty, refresh):
    """The same progress bar with or without `rich` installed; redrawn every step only on a terminal, so that
    `asr train ... > train.log` does not write a line per step."""
    from lightning.pytorch.callbacks import TQDMProgressBar

    from asr.training.trainer import make_trainer

    monkeypatch.setattr("sys.stdout.isatty", lambda: tty)
    trainer = make_trainer(compose_train([]).trainer, tmp_path, [])
    assert isinstance(trainer.progress_bar_callback, TQDMProgressBar)
    assert trainer.progress_bar_callback.refresh_rate == refresh
