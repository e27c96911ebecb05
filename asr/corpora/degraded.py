"""Degraded copies of an evaluation set in the LibriSpeech layout: every utterance played through a random room,
a random microphone colour (equalization) and/or mixed with coloured noise at a fixed SNR, to measure how a model
holds up on real speech in conditions the set itself lacks (dev-real is mostly close-talking and quiet).

The rooms and noises are drawn from the seed given here (default 1000), never the ones `asr make-noise` wrote for
training (seed 0), with the same generator (asr/corpora/noise.py). Each utterance gets its own draw, seeded by its
path, so a file's degradation does not depend on which other files the set holds, and a rerun gives the same bytes.

    asr degrade data/en/real/LibriSpeech/dev-real data/en/real/LibriSpeech/dev-real-room --room
"""

from __future__ import annotations

import io
import logging
import shutil
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf
from tqdm import tqdm

from asr.atomic import done_with, mark_done, write_bytes_atomic
from asr.audio import SAMPLE_RATE
from asr.corpora.noise import coloured_noise, equalize, room_impulse_response

log = logging.getLogger(__name__)


@dataclass
class Degraded:
    written: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count


def degrade(audio: np.ndarray, rng: np.random.Generator, room: bool = False, snr_db: float | None = None,
            drr_db: tuple[float, float] = (0.0, 12.0), eq_db: float | None = None) -> np.ndarray:
    """One utterance (16 kHz mono) through a random room (its level kept), a random colour of up to +-``eq_db``
    (:func:`~asr.corpora.noise.equalize`) and/or with coloured noise (white, pink or brown) at ``snr_db``; peaks
    limited to 0.99 (scaled, not clipped)."""
    y = audio.astype(np.float64)
    rms = np.sqrt(np.mean(y ** 2)) + 1e-12
    if room:
        y = scipy.signal.fftconvolve(y, room_impulse_response(rng, drr_db))[: len(y)]
        y *= rms / (np.sqrt(np.mean(y ** 2)) + 1e-12)
    if eq_db:
        y = equalize(y, rng, eq_db).astype(np.float64)
    if snr_db is not None:
        noise = coloured_noise(rng, len(y), float(rng.choice([0.0, -1.0, -2.0])))
        y = y + noise * rms * 10 ** (-snr_db / 20)
    peak = np.abs(y).max()
    return (y * (0.99 / peak if peak > 0.99 else 1.0)).astype(np.float32)


def degrade_set(src: str | Path, out: str | Path, room: bool = False, snr_db: float | None = None,
                seed: int = 1000, eq_db: float | None = None) -> Degraded:
    """Copy the subset directory ``src`` (``<speaker>/<chapter>/*.flac`` + ``*.trans.txt``) to ``out`` with every
    utterance degraded; idempotent (a done-marker that holds the settings: asking the same ``out`` for another
    degradation is an error, not the old copy). A file that cannot be read is skipped and counted."""
    src, out = Path(src), Path(out)
    if not room and snr_db is None and not eq_db:
        raise ValueError("nothing to do: ask for a room, a colour (--eq), a noise SNR, or several")
    flacs = sorted(src.rglob("*.flac"))
    if not flacs:
        raise FileNotFoundError(f"{src}: no .flac files (expected a LibriSpeech-layout subset directory)")
    done = out / ".completed"
    result = Degraded()
    settings = {"room": room, "snr_db": snr_db, "eq_db": eq_db, "seed": seed}
    if done_with(done, settings):
        log.info("%s already complete, skipping", out)
        result.written = len(list(out.rglob("*.flac")))
        return result
    for trans in src.rglob("*.trans.txt"):
        (out / trans.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(trans, out / trans.relative_to(src))
    for path in tqdm(flacs, desc=f"Degrading {src.name}", unit="utt"):
        rel = path.relative_to(src)
        try:
            audio, sr = sf.read(path, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            log.warning("%s: not readable audio (%s), skipped", path, e)
            result.skipped["unreadable audio"] += 1
            continue
        if sr != SAMPLE_RATE:
            log.warning("%s: %d Hz, expected %d, skipped", path, sr, SAMPLE_RATE)
            result.skipped[f"not {SAMPLE_RATE} Hz"] += 1
            continue
        rng = np.random.default_rng([seed, zlib.crc32(str(rel).encode())])
        buf = io.BytesIO()
        degraded = degrade(audio.mean(axis=1), rng, room, snr_db, eq_db=eq_db)
        sf.write(buf, degraded, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(out / rel, buf.getvalue())
        result.written += 1
    if result.skipped:
        log.warning("%s: skipped %d files: %s", src, sum(result.skipped.values()), dict(result.skipped))
    mark_done(done, settings)
    return result
