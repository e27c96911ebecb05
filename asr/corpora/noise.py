"""Synthetic noise and room responses for training-time augmentation, where no MUSAN or measured RIRs are at hand.

Noise (lhotse CutMix, `data.noise`): coloured noise (white, pink, brown: spectral slopes 0, -1, -2), mains hum
(50 or 60 Hz and harmonics over a little noise), and babble (several training utterances summed, for the sound of
people talking in the background). Room impulse responses (lhotse ReverbWithImpulseResponse, `data.augment.reverb`;
lhotse's own random RIR generator needs torchaudio): a direct path, a few early reflections and an exponentially
decaying noise tail with a random reverberation time (T60 0.15-0.9 s) and a random brightness.

    <out>/<kind>-<NNNN>.flac (16 kHz mono)  +  <out>/noise_cuts.jsonl.gz  +  <out>/.done
    <out>/rir/rir-<NNNN>.flac               +  <out>/rir_recordings.jsonl.gz
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import CutSet, Recording, RecordingSet
from tqdm.auto import tqdm

from asr.atomic import atomic_path
from asr.audio import SAMPLE_RATE

log = logging.getLogger(__name__)
KINDS = ("white", "pink", "brown", "hum", "babble")


def unit_rms(x: np.ndarray) -> np.ndarray:
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-9)).astype(np.float32)


def coloured_noise(rng: np.random.Generator, samples: int, slope: float) -> np.ndarray:
    """Gaussian noise whose power falls as f**slope (0 white, -1 pink, -2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(samples))
    freqs = np.fft.rfftfreq(samples, 1 / SAMPLE_RATE)
    spec *= np.maximum(freqs, 20.0) ** (slope / 2)
    return unit_rms(np.fft.irfft(spec, n=samples))


def hum(rng: np.random.Generator, samples: int) -> np.ndarray:
    t = np.arange(samples) / SAMPLE_RATE
    base = rng.choice([50.0, 60.0])
    x = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi))
            for k in range(1, 8))
    return unit_rms(x + 0.05 * coloured_noise(rng, samples, -1))


def babble(rng: np.random.Generator, samples: int, speech: CutSet) -> np.ndarray:
    """3-7 random utterances, each looped to length at its own offset, summed."""
    cuts = list(speech)
    x = np.zeros(samples, np.float32)
    for i in rng.choice(len(cuts), size=int(rng.integers(3, 8)), replace=len(cuts) < 7):
        audio = cuts[int(i)].resample(SAMPLE_RATE).load_audio().mean(axis=0)
        x += np.roll(np.resize(unit_rms(audio), samples), int(rng.integers(samples)))
    return unit_rms(x)


def room_impulse_response(rng: np.random.Generator, drr_db: tuple[float, float] = (0.0, 12.0)) -> np.ndarray:
    """A random, plausible room impulse response (peak 1): a direct path, early reflections within 50 ms and a
    noise tail decaying by 60 dB in T60 (0.15-0.9 s), scaled to a direct-to-reverberant ratio drawn from
    ``drr_db`` (0 dB: a talker a few metres away; 12 dB: close to the microphone)."""
    t60 = rng.uniform(0.15, 0.9)
    n = round(min(1.2, t60 * 1.2) * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / t60)  # -60 dB at t60
    # brightness: walls absorb high frequencies; a one-pole low-pass with a random pole
    a = rng.uniform(0.0, 0.7)
    for i in range(1, n):  # a short loop (~10^4 samples), once per RIR
        tail[i] += a * tail[i - 1]
    start = int(rng.integers(round(0.002 * SAMPLE_RATE), round(0.02 * SAMPLE_RATE)))  # pre-delay of the tail
    tail[:start] = 0.0
    for _ in range(int(rng.integers(2, 7))):  # early reflections within 50 ms
        tail[int(rng.integers(start, round(0.05 * SAMPLE_RATE)))] += rng.uniform(-0.5, 0.5) * np.abs(tail).max()
    drr = rng.uniform(*drr_db)
    tail *= np.sqrt(10 ** (-drr / 10) / (np.sum(tail ** 2) + 1e-12))  # energy of the rest = direct / 10^(DRR/10)
    tail[0] = 1.0  # the direct path
    return (tail / np.abs(tail).max()).astype(np.float32)


def make_rirs(out_dir: str | Path, count: int = 100, seed: int = 0) -> Path:
    """Write ``count`` random room impulse responses and their recordings manifest (idempotent)."""
    out = Path(out_dir)
    manifest = out / "rir_recordings.jsonl.gz"
    if manifest.exists():
        return manifest
    rng = np.random.default_rng(seed + 1)
    recordings = []
    for n in tqdm(range(count), desc="Room responses", unit="rir"):
        path = out / "rir" / f"rir-{n:04d}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            sf.write(tmp, room_impulse_response(rng), SAMPLE_RATE, format="FLAC", subtype="PCM_24")
        recordings.append(Recording.from_file(path, recording_id=path.stem))
    with atomic_path(manifest) as tmp:
        RecordingSet.from_recordings(recordings).to_file(tmp)
    return manifest


def make_noise(out_dir: str | Path, count: int = 200, seconds: float = 10.0, speech: CutSet | None = None,
               seed: int = 0) -> Path:
    """Write ``count`` noise recordings (kinds in turn; babble only when ``speech`` cuts are given) and their
    cuts manifest, and ``count // 2`` room responses (:func:`make_rirs`); idempotent (a done-marker). Returns the
    noise manifest's path."""
    out = Path(out_dir)
    manifest = out / "noise_cuts.jsonl.gz"
    if (out / ".done").exists() and manifest.exists():
        return manifest
    out.mkdir(parents=True, exist_ok=True)
    kinds = [k for k in KINDS if k != "babble" or speech is not None]
    rng = np.random.default_rng(seed)
    samples = round(seconds * SAMPLE_RATE)
    recordings = []
    for n in tqdm(range(count), desc="Noise", unit="file"):
        kind = kinds[n % len(kinds)]
        if kind == "hum":
            x = hum(rng, samples)
        elif kind == "babble":
            x = babble(rng, samples, speech)
        else:
            x = coloured_noise(rng, samples, {"white": 0.0, "pink": -1.0, "brown": -2.0}[kind])
        path = out / f"{kind}-{n:04d}.flac"
        with atomic_path(path) as tmp:
            sf.write(tmp, 0.1 * x, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        recordings.append(Recording.from_file(path, recording_id=path.stem))
    cuts = CutSet.from_manifests(recordings=RecordingSet.from_recordings(recordings))
    with atomic_path(manifest) as tmp:
        cuts.to_file(tmp)
    make_rirs(out, max(10, count // 2), seed)
    (out / ".done").touch()
    log.info("%d noise recordings (%s) in %s", count, ", ".join(kinds), out)
    return manifest
