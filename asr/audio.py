"""Load any audio file as 16 kHz mono float32, with errors that name the file and the problem."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16000


class AudioError(ValueError):
    """An audio input that cannot be used; the message names the file and the problem."""


def resample(audio: np.ndarray, orig_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def to_mono_16k(audio: np.ndarray, sample_rate: int, name: str = "<array>") -> np.ndarray:
    """(samples,) or (samples, channels) at any rate -> (samples,) float32 at 16 kHz."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio[:, 0] if audio.shape[1] == 1 else audio.mean(axis=1, dtype=np.float32)
    elif audio.ndim != 1:
        raise AudioError(f"{name}: expected 1-D (samples) or 2-D (samples, channels) audio, got shape {audio.shape}")
    if audio.size == 0:
        raise AudioError(f"{name}: the audio is empty (zero samples)")
    if not np.isfinite(audio).all():
        raise AudioError(f"{name}: the audio contains NaN or infinite samples")
    return resample(audio, sample_rate)


def _read(source, name: str) -> np.ndarray:
    """A file path or file-like object -> (samples,) float32 mono at 16 kHz; errors name ``name``."""
    try:
        audio, sr = sf.read(source, dtype="float32")  # mono: 1-D, no copy made to drop a channel axis
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(f"{name}: not a readable audio file ({e})") from e
    if audio.shape[0] == 0:
        raise AudioError(f"{name}: the audio has zero samples")
    return to_mono_16k(audio, sr, name)


def load_audio(path: str | Path) -> np.ndarray:
    """Read wav/flac/ogg/mp3 (anything libsndfile reads) -> (samples,) float32 mono at 16 kHz."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes)")
    return _read(path, str(path))


def load_audio_bytes(data: bytes, name: str) -> np.ndarray:
    """The bytes of an audio file (an upload, standard input) -> (samples,) float32 mono at 16 kHz."""
    return _read(io.BytesIO(data), name)
