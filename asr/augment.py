"""Train-only acoustic transforms on lhotse CutSets, built from the `data` config: lhotse's own transforms, applied
on the fly to each training batch before its audio is loaded (dev and test batches never pass through here).

    speed_perturb: [0.9, 1.1]                         PerturbSpeed (tempo and pitch, as voices differ)
    noise: {cuts: noise.jsonl.gz, snr: [5, 25], p: 0.5}   CutMix (MUSAN, or `asr make-noise`: noise, hum, babble;
                                                      cuts may list several manifests: combined_noise)
    augment:
      volume: {p: 0.5, db: [-15, 15]}                 PerturbVolume (gain; the corpus is recorded at one level)
      reverb: {rirs: rir_recordings.jsonl.gz, p: 0.3} ReverbWithImpulseResponse (`asr make-noise` writes RIRs)
      telephone: {p: 0.1, cutoff: [3400, 4000]}       LowpassUsingResampling (narrow band)
      codec: {p: 0.1, codecs: [gsm, mp3, opus]}       Compress (lossy codec round trip through libsndfile)
      clipping: {p: 0.05, db: [0, 12]}                ClippingTransform (gain into saturation)

Each entry is optional; ``p`` is the share of utterances it touches. One acts on the loaded waveforms:
``floor: {p: 1.0, dbfs: [-75, -45]}`` adds a quiet noise floor (white or pink noise at a random absolute level,
:class:`NoiseFloor`): TTS audio has digital silence (10-30% of its samples are exactly zero) where every microphone
has some noise. One more acts on the log-mel features (so it costs next to nothing): ``vtlp: [0.9, 1.1]``, vocal
tract length perturbation (each utterance's frequency axis warped by a random factor, a shorter or longer vocal
tract: new speakers from every voice; :class:`FrequencyWarp`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lhotse import CutSet, RecordingSet
from lhotse.dataset.cut_transforms import (
    ClippingTransform,
    Compress,
    CutMix,
    LowpassUsingResampling,
    PerturbSpeed,
    PerturbVolume,
    ReverbWithImpulseResponse,
)

from asr.corpora.noise import coloured_noise

CutTransform = Callable[[CutSet], CutSet]
KNOWN = ("volume", "reverb", "telephone", "codec", "clipping", "floor", "vtlp")


def _db_to_gain(db: float) -> float:
    return 10 ** (db / 20)


def combined_noise(sources: Any, load_noise: Callable[[Any], CutSet]) -> CutSet:
    """``data.noise.cuts``: one manifest, or a list of them (e.g. MUSAN beside two ``asr make-noise`` directories).
    Noise is anonymous, so each source's ids get its place in the list as a prefix: directories made separately
    (whose ids, ``white-0000-0``, are the same) combine. The noise cuts' own supervisions, if any, are dropped: they
    must not join the transcript."""
    if isinstance(sources, (str, Path, Mapping)):
        return CutSet.from_cuts(c.drop_supervisions() for c in load_noise(sources))
    sources = list(sources)
    if not sources:
        raise ValueError("data.noise.cuts: an empty list; give a noise manifest or leave data.noise null")
    return CutSet.from_cuts(c.drop_supervisions().with_id(f"noise{i}-{c.id}")
                            for i, source in enumerate(sources) for c in load_noise(source))


def build_transforms(speed_perturb: list[float] | None = None, noise: Mapping | None = None,
                     augment: Mapping | None = None, seed: int = 0,
                     load_noise: Callable[[Any], CutSet] | None = None) -> list[CutTransform]:
    """The train-time transforms, in the order a signal meets them: speaker (speed), room (reverb), other sources
    (noise), level (volume, clipping), channel (telephone band, codec)."""
    augment = dict(augment or {})
    unknown = sorted(set(augment) - set(KNOWN))
    if unknown:
        raise ValueError(f"data.augment: unknown transform(s) {unknown}; known: {list(KNOWN)}")
    rng = random.Random(seed)
    out: list[CutTransform] = []
    if speed_perturb:
        factors = list(speed_perturb)
        out.append(PerturbSpeed(factors=factors, p=len(factors) / (len(factors) + 1)))
    if augment.get("reverb"):
        # measured or synthetic RIRs (lhotse's own random generator needs torchaudio, which asr does not use)
        r = augment["reverb"]
        if not r.get("rirs"):
            raise ValueError("data.augment.reverb needs rirs: a RecordingSet of impulse responses "
                             "(`asr make-noise DIR` writes DIR/rir_recordings.jsonl.gz)")
        out.append(ReverbWithImpulseResponse(RecordingSet.from_file(r["rirs"]), p=r.get("p", 0.3),
                                             randgen=random.Random(rng.random()), preserve_id=True))
    if noise:
        if load_noise is None:
            raise ValueError("data.noise needs a loader for its cuts")
        noise_cuts = combined_noise(noise["cuts"], load_noise)
        out.append(CutMix(noise_cuts, snr=tuple(noise.get("snr", (10, 20))), p=noise.get("p", 0.5),
                          pad_to_longest=False, preserve_id=True, seed=noise.get("seed", seed)))
    if augment.get("volume"):
        lo, hi = augment["volume"].get("db", (-15, 15))
        out.append(PerturbVolume(p=augment["volume"].get("p", 0.5), scale_low=_db_to_gain(lo),
                                 scale_high=_db_to_gain(hi), randgen=random.Random(rng.random()), preserve_id=True))
    if augment.get("clipping"):
        c = augment["clipping"]
        out.append(ClippingTransform(gain_db=tuple(c.get("db", (0, 12))), p=c.get("p", 0.05), seed=None,
                                     rng=random.Random(rng.random()), preserve_id=True))
    if augment.get("telephone"):
        t = augment["telephone"]
        out.append(LowpassUsingResampling(p=t.get("p", 0.1), seed=None, rng=random.Random(rng.random()),
                                          frequencies_interval=tuple(t.get("cutoff", (3400, 4000))), preserve_id=True))
    if augment.get("codec"):
        c = augment["codec"]
        out.append(Compress(codecs=list(c.get("codecs", ["gsm", "mp3", "opus"])),
                            compression_level=tuple(c.get("level", (0.5, 0.95))), p=c.get("p", 0.1), seed=None,
                            rng=random.Random(rng.random()), preserve_id=True))
    return out


def reseed(transforms: list[CutTransform], seed: int) -> None:
    """A fresh ``random.Random`` from ``seed`` for every transform (lhotse's keep theirs in ``random``, ``randgen``
    or ``rng``): a training batch seeds its augmentation itself, so a resumed run draws what the interrupted one
    would have, whichever worker process makes the batch."""
    rng = random.Random(seed)
    for transform in transforms:
        for attr in ("random", "randgen", "rng"):
            if hasattr(transform, attr):
                setattr(transform, attr, random.Random(rng.random()))


class NoiseFloor:
    """Add a noise floor to waveforms: with probability ``p`` each gets white or pink (1/f) Gaussian noise whose RMS
    is a random level in ``dbfs`` (dB relative to full scale), as a microphone's self-noise and a room's hum are;
    digital silence becomes quiet noise. Operates on the loaded audio, so it follows every cut transform."""

    def __init__(self, p: float = 1.0, dbfs: tuple[float, float] = (-75.0, -45.0), seed: int = 0):
        lo, hi = dbfs
        if not lo <= hi < 0:
            raise ValueError(f"floor dbfs must satisfy low <= high < 0, got {dbfs}")
        self.p, self.dbfs = float(p), (float(lo), float(hi))
        self.rng = random.Random(seed)

    def __call__(self, waves: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for wave in waves:
            if self.rng.random() >= self.p or len(wave) == 0:
                out.append(wave)
                continue
            slope = self.rng.choice((0, -1))  # white or pink
            noise = coloured_noise(np.random.default_rng(self.rng.getrandbits(63)), len(wave), slope)  # unit RMS
            rms = 10 ** (self.rng.uniform(*self.dbfs) / 20)
            out.append(wave + torch.from_numpy(noise * rms).to(wave.dtype))
        return out


class FrequencyWarp:
    """Vocal tract length perturbation on log-mel features: each item's spectrum is read at ``f / alpha`` for a
    random ``alpha`` in ``[low, high]`` (alpha > 1 stretches it upwards, as a shorter vocal tract does), by linear
    interpolation between the mel bands' centre frequencies. Padded frames stay as they are."""

    def __init__(self, factors: tuple[float, float], n_mels: int = 80, sample_rate: int = 16000, seed: int = 0):
        import librosa

        lo, hi = factors
        if not 0.5 < lo <= hi < 2.0:
            raise ValueError(f"vtlp factors must satisfy 0.5 < low <= high < 2, got {factors}")
        self.factors = (float(lo), float(hi))
        self.centres = librosa.mel_frequencies(n_mels + 2, fmin=0.0, fmax=sample_rate / 2, htk=True)[1:-1]
        self.rng = np.random.default_rng(seed)

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        """(batch, frames, mel) -> the same shape, each item warped by its own factor."""
        out = torch.empty_like(feats)
        bands = np.arange(len(self.centres), dtype=np.float64)
        for b in range(feats.shape[0]):
            alpha = self.rng.uniform(*self.factors)
            source = np.interp(self.centres / alpha, self.centres, bands)  # fractional band index to read
            lower = torch.as_tensor(np.floor(source).astype(np.int64)).clamp(0, len(bands) - 1)
            upper = (lower + 1).clamp(max=len(bands) - 1)
            frac = torch.as_tensor(source - np.floor(source), dtype=feats.dtype)
            out[b] = feats[b, :, lower] * (1 - frac) + feats[b, :, upper] * frac
        return out
