"""Model packages: a directory of safetensors weights + YAML config + JSON tokens + JSON stats. Never pickled.

    <dir>/model.safetensors   weights (the normalization statistics are buffers of the model)
    <dir>/config.yaml         model + features config, and the decoding settings
    <dir>/tokens.json         the token list (index = model output)
    <dir>/cmvn.json           the global normalization statistics, readable
    <dir>/lexicon.txt         optional: the word list beam search keeps to (`asr tune --lexicon` puts it there)
"""

from __future__ import annotations

import hashlib

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from asr.atomic import atomic_dir, write_text_atomic
from asr.features import CMVNStats, FeatureConfig
from asr.model_card import model_card
from asr.models.acoustic import AcousticConfig, AcousticModel
from asr.text import Tokenizer

FILES = ("model.safetensors", "config.yaml", "tokens.json")


def default_model_dir() -> Path:
    """$ASR_MODEL if set, else the English model that ships with asr (models/en in a source checkout,
    asr/pretrained/en in a wheel)."""
    import os
    from importlib import resources

    if os.environ.get("ASR_MODEL"):
        return Path(os.environ["ASR_MODEL"])
    shipped = Path(str(resources.files("asr"))) / "pretrained" / "en"
    return shipped if shipped.is_dir() else Path(__file__).resolve().parent.parent / "models" / "en"


def is_package_dir(path: str | Path) -> bool:
    """A directory holding a model package's files (as opposed to, say, a directory of recordings)."""
    path = Path(path)
    return path.is_dir() and all((path / f).is_file() for f in FILES)


@dataclass
class ModelPackage:
    model: AcousticModel
    tokenizer: Tokenizer
    features: FeatureConfig
    decode: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _dataclass_from(cls, d: dict[str, Any], where: str):
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{where}: unknown {cls.__name__} keys {sorted(unknown)}")
    return cls(**d)


def save_package(package: ModelPackage, out_dir: str | Path, dtype: torch.dtype | None = None) -> Path:
    """Write the package atomically; ``dtype=torch.float16`` halves the weights file (loading casts back)."""
    with atomic_dir(out_dir) as tmp:
        state = {k: v.detach().cpu().to(dtype if dtype is not None and v.is_floating_point() else v.dtype)
                 .contiguous() for k, v in package.model.state_dict().items()}
        save_file(state, tmp / "model.safetensors")
        config = {"model": asdict(package.model.config), "features": asdict(package.features),
                  "decode": package.decode, "meta": package.meta,
                  "sha256": {"model.safetensors": sha256_file(tmp / "model.safetensors")}}
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        package.tokenizer.save(tmp / "tokens.json")
        norm = package.model.normalizer
        CMVNStats(norm.mean.tolist(), norm.std.tolist(), int(package.meta.get("cmvn_frames", 0))).save(
            tmp / "cmvn.json")
        (tmp / "README.md").write_text(model_card(package, Path(out_dir).name))
    return Path(out_dir)


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_digest(path: str | Path) -> str:
    """sha256 of a file, or of an LM package's weights file: what `asr tune` records of the LM it tuned with."""
    path = Path(path)
    return sha256_file(path / "lm.safetensors" if path.is_dir() else path)


def read_weights(path: Path, sha256: str | None, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """A package's safetensors weights, checked: against the sha256 its config.yaml recorded when it was written
    (packages written before that record load unchecked), and for NaN / inf values. Errors name the file."""
    if sha256 and sha256_file(path) != sha256:
        raise ValueError(f"{path}: the file differs from the one written with this package (sha256 mismatch: "
                         "changed or damaged since); re-export it")
    try:
        state = load_file(path, device=str(device))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path}: cannot read the weights ({e})") from e
    bad = [name for name, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise ValueError(f"{path}: NaN or infinite values in {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}")
    return state


def load_package(path: str | Path, device: str | torch.device = "cpu") -> ModelPackage:
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not a model package directory")
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{path}: not a model package, missing {', '.join(missing)}")
    try:
        config = yaml.safe_load((path / "config.yaml").read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path / 'config.yaml'}: invalid YAML ({e})") from e
    if not isinstance(config, dict) or "model" not in config:
        raise ValueError(f"{path / 'config.yaml'}: no 'model' section")
    tokenizer = Tokenizer.load(path / "tokens.json")
    model_cfg = _dataclass_from(AcousticConfig, config["model"], str(path / "config.yaml"))
    if model_cfg.vocab_size != len(tokenizer):
        raise ValueError(f"{path}: the model has {model_cfg.vocab_size} outputs but tokens.json has "
                         f"{len(tokenizer)} tokens")
    model = AcousticModel(model_cfg)
    state = read_weights(path / "model.safetensors", (config.get("sha256") or {}).get("model.safetensors"), device)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{path / 'model.safetensors'}: weights do not match config.yaml ({e})") from e
    model.to(device).eval()
    features = _dataclass_from(FeatureConfig, config.get("features", {}), str(path / "config.yaml"))
    return ModelPackage(model, tokenizer, features, config.get("decode") or {}, config.get("meta") or {})


def read_checkpoint(ckpt_path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint of `asr train` or `asr lm train`, loaded with weights_only=True (nothing unpickled)."""
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ValueError(f"{ckpt_path}: not a readable checkpoint ({e})") from e
    hp = ckpt.get("hyper_parameters", {}) if isinstance(ckpt, dict) else {}
    if "model" not in hp or "tokens" not in hp:
        raise ValueError(f"{ckpt_path}: not an `asr train` checkpoint (no model hyper-parameters)")
    return ckpt


def module_state(state_dict: dict[str, torch.Tensor], prefix: str = "model.") -> dict[str, torch.Tensor]:
    """The weights of the LightningModule's ``model`` attribute (the plain nn.Module), without the prefix."""
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def package_from_checkpoint(ckpt_path: str | Path | list, features: FeatureConfig | None = None) -> ModelPackage:
    """Rebuild the model of a Lightning checkpoint (loaded with weights_only=True) as a package. Given several
    checkpoints of one run (e.g. the last N epochs), their weights are averaged."""
    paths = [ckpt_path] if isinstance(ckpt_path, (str, Path)) else list(ckpt_path)
    if not paths:
        raise ValueError("no checkpoint given")
    ckpt = read_checkpoint(paths[0])
    hp = ckpt["hyper_parameters"]
    state = {k: v.double() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    for path in paths[1:]:
        other = read_checkpoint(path)
        if other["hyper_parameters"]["model"] != hp["model"] or set(other["state_dict"]) != set(state):
            raise ValueError(f"{path}: a different model than {paths[0]}; only checkpoints of one run can be averaged")
        for k, v in other["state_dict"].items():
            if v.is_floating_point():
                state[k] += v.double()
    state = {k: (v / len(paths)).float() if v.is_floating_point() else v for k, v in state.items()}
    tokenizer = Tokenizer(hp["tokens"])
    model = AcousticModel(AcousticConfig(**{**hp["model"], "vocab_size": len(tokenizer)}))
    model.load_state_dict(module_state(state))
    model.eval()
    feats = features or FeatureConfig(**hp.get("features", {}))
    meta = {"checkpoint": str(paths[0]) if len(paths) == 1 else [str(p) for p in paths],
            "epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step")}
    return ModelPackage(model, tokenizer, feats, {"method": "greedy"}, meta)


def update_decode_settings(path: str | Path, decode: dict[str, Any]) -> None:
    """Store tuned decoding settings in the package's config.yaml (atomically), and its model card with them."""
    config_path = Path(path) / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["decode"] = decode
    write_text_atomic(config_path, yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    write_text_atomic(Path(path) / "README.md", model_card(load_package(path), Path(path).name))
