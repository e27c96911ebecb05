"""LM packages: ``lm.safetensors`` + ``config.yaml`` (LMConfig and metadata) + ``tokens.json``. Never pickled."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from safetensors.torch import save_file

from asr.atomic import atomic_dir
from asr.model_card import lm_card
from asr.models.lm import CharLM, LMConfig
from asr.package import module_state, read_checkpoint, read_weights, sha256_file
from asr.text import Tokenizer


@dataclass
class LMPackage:
    model: CharLM
    tokenizer: Tokenizer
    meta: dict[str, Any] = field(default_factory=dict)


def save_lm_package(package: LMPackage, out_dir: str | Path) -> Path:
    with atomic_dir(out_dir) as tmp:
        state = {k: v.detach().cpu().contiguous().clone() for k, v in package.model.state_dict().items()}
        if package.model.config.tie_weights:
            state.pop("output.weight")  # the same tensor as embed.weight
        save_file(state, tmp / "lm.safetensors")
        config = {"lm": asdict(package.model.config), "meta": package.meta,
                  "sha256": {"lm.safetensors": sha256_file(tmp / "lm.safetensors")}}
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        package.tokenizer.save(tmp / "tokens.json")
        (tmp / "README.md").write_text(lm_card(package, Path(out_dir).name))
    return Path(out_dir)


def load_lm_package(path: str | Path, device: str = "cpu") -> LMPackage:
    path = Path(path)
    for name in ("lm.safetensors", "config.yaml", "tokens.json"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path}: not an LM package (missing {name})")
    try:
        config = yaml.safe_load((path / "config.yaml").read_text())
        known = {f.name for f in fields(LMConfig)}
        lm_cfg = LMConfig(**{k: v for k, v in config["lm"].items() if k in known})
    except (yaml.YAMLError, KeyError, TypeError) as e:
        raise ValueError(f"{path / 'config.yaml'}: not a valid LM config ({e})") from e
    tokenizer = Tokenizer.load(path / "tokens.json")
    if lm_cfg.vocab_size != len(tokenizer):
        raise ValueError(f"{path}: the LM has {lm_cfg.vocab_size} outputs but tokens.json has {len(tokenizer)}")
    model = CharLM(lm_cfg)
    state = read_weights(path / "lm.safetensors", (config.get("sha256") or {}).get("lm.safetensors"), device)
    try:
        model.load_state_dict(state, strict=not lm_cfg.tie_weights)
    except RuntimeError as e:
        raise ValueError(f"{path / 'lm.safetensors'}: cannot load the LM weights ({e})") from e
    return LMPackage(model.to(device).eval(), tokenizer, config.get("meta") or {})


def load_lm_for(path: str | Path, tokenizer: Tokenizer, device: str = "cpu") -> CharLM:
    """The LM of an LM package, for an acoustic model with ``tokenizer``'s tokens (else an error naming it)."""
    package = load_lm_package(path, device)
    if package.tokenizer.tokens != tokenizer.tokens:
        raise ValueError(f"{path}: the LM's token set differs from the model's")
    return package.model


def lm_package_from_checkpoint(ckpt_path: str | Path) -> LMPackage:
    ckpt = read_checkpoint(ckpt_path)
    hp = ckpt["hyper_parameters"]
    tokenizer = Tokenizer(hp["tokens"])
    model = CharLM(LMConfig(**{**hp["model"], "vocab_size": len(tokenizer)}))
    model.load_state_dict(module_state(ckpt["state_dict"]))
    return LMPackage(model.eval(), tokenizer, {"checkpoint": str(ckpt_path), "epoch": ckpt.get("epoch")})
