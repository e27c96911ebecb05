"""Noise and room responses for training-time augmentation, where no MUSAN or measured RIRs are at hand.

Noise (lhotse CutMix, `data.noise`): coloured noise (white, pink, brown: spectral slopes 0, -1, -2), mains hum
(50 or 60 Hz and harmonics over a little noise), and babble (several training utterances summed, for the sound of
people talking in the background). Room impulse responses (lhotse ReverbWithImpulseResponse, `data.augment.reverb`;
lhotse's own random RIR generator needs torchaudio): a direct path, a few early reflections and an exponentially
decaying noise tail with a random reverberation time (T60 0.15-0.9 s) and a random brightness. Recordings of
real noise (a user's own: an office, a street, a car; music; sound effects) join the synthetic ones with
``real=``: every audio file below the given directories, cut into pieces (:func:`import_noise`).

    <out>/<kind>-<NNNN>.flac (16 kHz mono)  +  <out>/noise_cuts.jsonl.gz  +  <out>/.done
    <out>/real/real-<file>-<piece>.flac     (the pieces of real noise recordings, in the same manifest)
    <out>/rir/rir-<NNNN>.flac               +  <out>/rir_recordings.jsonl.gz
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import CutSet, Recording, RecordingSet
from tqdm.auto import tqdm

from asr.atomic import atomic_path, done_with, mark_done
from asr.audio import SAMPLE_RATE, AudioError, find_audio_files, load_audio

log = logging.getLogger(__name__)
KINDS = ("white", "pink", "brown", "hum", "babble")
SILENCE_DBFS = -60.0  # a piece of a real recording quieter than this (RMS) is silence, not noise
MIN_PIECE_SECONDS = 0.25


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


def equalize(audio: np.ndarray, rng: np.random.Generator, max_db: float, bands: int = 8) -> np.ndarray:
    """A random microphone / loudspeaker colour: a smooth gain curve over frequency (``bands`` gains drawn in
    +-``max_db`` at log-spaced frequencies from 60 Hz to 7.5 kHz, interpolated along log frequency, held flat
    beyond), applied as a zero-phase filter to the whole signal; its RMS level kept (a colour, not a gain)."""
    x = audio.astype(np.float64)
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    points = np.geomspace(60.0, 7500.0, bands)
    gains_db = np.interp(np.log(np.maximum(freqs, 1.0)), np.log(points), rng.uniform(-max_db, max_db, bands))
    y = np.fft.irfft(np.fft.rfft(x) * 10 ** (gains_db / 20), n=len(x))
    return (y * np.sqrt(np.mean(x ** 2) / (np.mean(y ** 2) + 1e-20))).astype(np.float32)


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


def import_noise(sources: Sequence[str | Path], out_dir: str | Path, seconds: float = 10.0,
                 max_pieces: int = 6) -> tuple[list[Recording], Counter]:
    """Real noise recordings as pieces for ``data.noise``: every audio file below each directory in ``sources``
    (or the file itself) read as 16 kHz mono and cut into pieces of ``seconds`` (a file shorter than that is one
    piece, if at least 0.25 s long); of a long file at most ``max_pieces``, spread over its length, so that a few
    long recordings do not crowd out the rest. Unreadable files and silent pieces are counted skips. Returns the
    recordings written to ``out_dir/real`` and the skips by reason."""
    out = Path(out_dir) / "real"
    files: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            files += find_audio_files(source)
        elif source.is_file():
            files.append(source)
        else:
            raise FileNotFoundError(f"{source}: no such file or directory of noise recordings")
    if not files:
        raise ValueError(f"no audio files in {', '.join(map(str, sources))}")
    out.mkdir(parents=True, exist_ok=True)
    recordings, skipped = [], Counter()
    size = round(seconds * SAMPLE_RATE)
    for f, path in enumerate(tqdm(files, desc="Real noise", unit="file")):
        try:
            audio = load_audio(path)
        except AudioError as e:
            log.warning("skipped %s", e)
            skipped["unreadable"] += 1
            continue
        if len(audio) < MIN_PIECE_SECONDS * SAMPLE_RATE:
            skipped[f"shorter than {MIN_PIECE_SECONDS} s"] += 1
            continue
        count = max(1, len(audio) // size)
        starts = np.unique(np.linspace(0, count - 1, min(count, max_pieces)).round().astype(int)) * size
        for k, start in enumerate(starts):
            piece = audio[start:start + size]
            if 20 * np.log10(np.sqrt(np.mean(piece ** 2)) + 1e-12) < SILENCE_DBFS:
                skipped["silent pieces"] += 1
                continue
            piece_path = out / f"real-{f:04d}-{k:02d}.flac"
            with atomic_path(piece_path) as tmp:
                sf.write(tmp, np.clip(piece, -1.0, 1.0), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
            recordings.append(Recording.from_file(piece_path, recording_id=piece_path.stem))
    log.info("%d pieces of real noise from %d files in %s", len(recordings), len(files), out)
    return recordings, skipped


def make_noise(out_dir: str | Path, count: int = 200, seconds: float = 10.0, speech: CutSet | None = None,
               seed: int = 0, real: Sequence[str | Path] = ()) -> Path:
    """Write ``count`` noise recordings (kinds in turn; babble only when ``speech`` cuts are given), the pieces of
    the real noise recordings in ``real`` (:func:`import_noise`), their cuts manifest, and ``count // 2`` room
    responses (:func:`make_rirs`, at least 10). Idempotent: a done-marker holds the settings, and a directory made
    with other settings is an error rather than silently the old noise. Returns the noise manifest's path."""
    out = Path(out_dir)
    manifest = out / "noise_cuts.jsonl.gz"
    settings = {"count": count, "seconds": seconds, "seed": seed, "babble": speech is not None,
                "real": [str(r) for r in real]}
    done = out / ".done"
    if manifest.exists() and done_with(done, settings):
        return manifest
    if count <= 0 and not real:
        raise ValueError("no noise to make: --count 0 and no real recordings (--from)")
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
    skipped = Counter()
    if real:
        pieces, skipped = import_noise(real, out, seconds)
        recordings += pieces
    if not recordings:
        raise ValueError(f"no usable noise in {', '.join(map(str, real))} (skipped: {dict(skipped)})")
    cuts = CutSet.from_manifests(recordings=RecordingSet.from_recordings(recordings))
    with atomic_path(manifest) as tmp:
        cuts.to_file(tmp)
    make_rirs(out, max(10, count // 2), seed)
    mark_done(done, settings)
    if skipped:
        log.warning("real noise in %s: skipped %s", out, ", ".join(f"{n} {r}" for r, n in skipped.items()))
    log.info("%d noise recordings in %s", len(recordings), out)
    return manifest
