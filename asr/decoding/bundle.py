"""What a model package carries for its decoding: the lexicon, the n-gram and the LSTM LM its settings name, copied
into the package, so that it decodes the same wherever it is copied to.

Used by `asr train` (the `decode` config group: conf/decode/, also the dev-set decoding during training), by
`asr tune` (the tuned settings) and by `asr export` (a package re-exported elsewhere takes its files along)."""

from __future__ import annotations

import shutil
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from asr.atomic import atomic_dir, atomic_path
from asr.decoding.config import DecodeSettings
from asr.package import file_digest, update_decode_settings

LM_DIR = "lm"  # a package's own LSTM LM (used by `asr transcribe` when its decoding is beam_lm)


def decode_config_settings(decode: dict[str, Any] | None) -> tuple[DecodeSettings, Path | None]:
    """The `decode` config group (conf/decode/*.yaml: DecodeSettings' fields and ``lm``, an LM package) checked
    before anything runs: a known method, and every file it names there. Returns the settings and the LM."""
    decode = dict(decode or {})
    lm = decode.pop("lm", None)
    unknown = set(decode) - {f.name for f in fields(DecodeSettings)}
    if unknown:
        raise ValueError(f"decode: unknown setting(s) {', '.join(sorted(unknown))}")
    settings = DecodeSettings.from_dict(decode)
    if settings.method == "beam_lm" and not lm:
        raise ValueError("decode=beam_lm needs an LSTM LM package: decode.lm=PATH (made by `asr lm train`)")
    for key in ("lexicon", "ngram"):
        path = getattr(settings, key)
        if path and not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such {key} file (decode.{key})")
    if lm and not (Path(lm) / "lm.safetensors").is_file():
        raise FileNotFoundError(f"{lm}: not an LM package, no lm.safetensors in it (decode.lm)")
    return settings, Path(lm) if lm else None


def copy_into(package: Path, source: str | Path, name: str) -> str:
    """``source`` copied into the package directory as ``name`` (unless it is that file); returns ``name``."""
    target = Path(package) / name
    if not (target.exists() and target.samefile(source)):
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    return name


def ngram_name(path: str | Path) -> str:
    """The n-gram's file name inside a package: ngram.arpa (ngram.arpa.gz compressed), or ngram.binary etc. for a
    KenLM binary."""
    suffixes = Path(path).suffixes
    if suffixes[-2:] == [".arpa", ".gz"]:
        return "ngram.arpa.gz"
    return "ngram" + (Path(path).suffix or ".arpa")


def bundle_files(package: Path, settings: DecodeSettings) -> DecodeSettings:
    """The settings' lexicon and n-gram copied into ``package``; the settings then name those copies."""
    if settings.lexicon:
        settings = replace(settings, lexicon=copy_into(package, settings.lexicon, "lexicon.txt"))
    if settings.ngram:
        settings = replace(settings, ngram=copy_into(package, settings.ngram, ngram_name(settings.ngram)))
    return settings


def copy_lm(package: Path, lm: Path) -> dict[str, str]:
    """The LM package copied into ``package``/lm (atomically); returns the record `asr tune` keeps of an LM."""
    target = Path(package) / LM_DIR
    if not (target.exists() and target.resolve() == Path(lm).resolve()):
        with atomic_dir(target) as tmp:
            shutil.copytree(lm, tmp, dirs_exist_ok=True)
    return {"path": str(lm), "sha256": file_digest(lm)}


def write_decoding(package: Path, decode: dict[str, Any] | None) -> DecodeSettings:
    """Store the `decode` config group's settings in a package written by `asr train`, with copies of the files
    they name (checked by ``decode_config_settings``); `asr tune` may refine them later."""
    settings, lm = decode_config_settings(decode)
    if settings.method == "greedy":  # what the package already says
        return settings
    settings = bundle_files(package, settings)
    record = {"lm": copy_lm(package, lm)} if lm else {}
    update_decode_settings(package, {**settings.to_dict(), **record})
    return settings


def carry_files(source: Path, target: Path, decode: dict[str, Any] | None) -> list[str]:
    """The decoding files of package ``source`` whose settings are ``decode`` (its lexicon, n-gram, own LM) copied
    into ``target``, a copy of it (`asr export SRC OUT`); returns the names copied."""
    settings = DecodeSettings.from_dict(decode)
    copied = []
    for name in (settings.lexicon, settings.ngram):
        if name and not Path(name).is_absolute() and (source / name).is_file():
            copied.append(copy_into(target, source / name, name))
    if (source / LM_DIR / "lm.safetensors").is_file():
        copy_lm(target, source / LM_DIR)
        copied.append(LM_DIR)
    return copied
