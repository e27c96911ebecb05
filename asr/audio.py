"""Load any audio file as 16 kHz mono float32, with errors that name the file and the problem."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16000
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au"}


def find_audio_files(directory: Path) -> list[Path]:
    """The audio files below ``directory`` (by extension, any case), in sorted order."""
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())


class AudioError(ValueError):
    """An audio input that cannot be used; the message names the file and the problem."""


def resample(audio: np.ndarray, orig_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def _mono(audio: np.ndarray) -> np.ndarray:
    """(samples, channels) -> (samples,): the channels averaged (a single one taken as it is)."""
    return audio[:, 0] if audio.shape[1] == 1 else audio.mean(axis=1, dtype=np.float32)


def to_mono_16k(audio: np.ndarray, sample_rate: int, name: str = "<array>") -> np.ndarray:
    """(samples,) or (samples, channels) at any rate -> (samples,) float32 at 16 kHz."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = _mono(audio)
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


def _check_file(path: str | Path) -> Path:
    """``path`` as a Path, or AudioError when it is missing, a directory or empty."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes)")
    return path


def load_audio(path: str | Path) -> np.ndarray:
    """Read wav/flac/ogg/mp3 (anything libsndfile reads) -> (samples,) float32 mono at 16 kHz."""
    path = _check_file(path)
    return _read(path, str(path))


def load_audio_bytes(data: bytes, name: str) -> np.ndarray:
    """The bytes of an audio file (an upload, standard input) -> (samples,) float32 mono at 16 kHz."""
    return _read(io.BytesIO(data), name)


class Resampler:
    """Pieces of mono float32 audio at ``rate`` -> pieces at 16 kHz (soxr's streaming resampler; nothing kept but
    its filter state)."""

    def __init__(self, rate: int):
        self.stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32") if rate != SAMPLE_RATE else None
        self.samples_in = 0

    def __call__(self, piece: np.ndarray, last: bool = False) -> np.ndarray:
        piece = np.asarray(piece, dtype=np.float32)
        self.samples_in += len(piece)
        return piece if self.stream is None else self.stream.resample_chunk(piece, last=last)

    def flush(self) -> np.ndarray:
        """The samples the filter still holds, at the end of the input."""
        return self(np.zeros(0, np.float32), last=True)


class PcmDecoder:
    """Raw 16-bit little-endian mono PCM in pieces of any byte count (an odd byte waits for its pair) -> 16 kHz
    float32 pieces."""

    def __init__(self, sample_rate: int = SAMPLE_RATE):
        self.resampler, self.carry = Resampler(sample_rate), b""

    def __call__(self, data: bytes) -> np.ndarray:
        data, self.carry = self.carry + data, b""
        if len(data) % 2:
            data, self.carry = data[:-1], data[-1:]
        return self.resampler(np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0)

    def flush(self) -> np.ndarray:
        return self.resampler.flush()


def audio_blocks(path: str | Path, seconds: float = 1.0):
    """Read a file in blocks of about ``seconds`` -> 16 kHz mono float32 pieces, holding one block at a time
    (soundfile's block reads, soxr's streaming resampler). Errors name the file."""
    path = _check_file(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(f"{path}: not a readable audio file ({e})") from e
    if info.frames == 0:
        raise AudioError(f"{path}: the audio has zero samples")
    resampler = Resampler(info.samplerate)
    blocks = sf.blocks(str(path), blocksize=max(1, int(seconds * info.samplerate)), dtype="float32", always_2d=True)
    while True:
        try:
            block = next(blocks, None)
        except (sf.LibsndfileError, RuntimeError) as e:  # damage found part way through the file
            raise AudioError(f"{path}: not a readable audio file after {resampler.samples_in / info.samplerate:.1f} "
                             f"s ({e})") from e
        if block is None:
            break
        mono = _mono(block)
        if not np.isfinite(mono).all():
            raise AudioError(f"{path}: the audio contains NaN or infinite samples")
        yield resampler(mono)
    if len(tail := resampler.flush()):
        yield tail


def pcm_blocks(stream, sample_rate: int = SAMPLE_RATE, seconds: float = 0.1):
    """Raw 16-bit little-endian mono PCM from a binary stream (stdin, a socket) -> 16 kHz float32 pieces, as it
    arrives (``arecord -f S16_LE -r 16000 -c 1 | asr transcribe --stream MODEL -``)."""
    decode, size = PcmDecoder(sample_rate), max(2, int(seconds * sample_rate) * 2)
    while data := (stream.read1(size) if hasattr(stream, "read1") else stream.read(size)):
        yield decode(data)
    if len(tail := decode.flush()):
        yield tail
