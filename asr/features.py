"""Log-mel features (torch.stft + librosa's mel filterbank) and global mean/variance normalization: the project's
own (``LogMel``) or Whisper's (``WhisperLogMel``, the input of the pretrained encoder front end); ``feature_extractor``
picks the one a FeatureConfig names."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import librosa
import numpy as np
import scipy.fft
import torch
from torch import nn

from asr.atomic import write_text_atomic
from asr.audio import SAMPLE_RATE


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = SAMPLE_RATE
    n_mels: int = 80
    win_length: float = 0.025  # seconds
    hop_length: float = 0.010  # seconds
    n_fft: int = 512
    log_floor: float = 1e-6
    kind: str = "logmel"  # logmel (LogMel) | whisper (WhisperLogMel: Whisper's fixed parameters, the rest unused)

    @property
    def win_samples(self) -> int:
        return round(self.win_length * self.sample_rate)

    @property
    def hop_samples(self) -> int:
        return round(self.hop_length * self.sample_rate)

    def num_frames(self, num_samples: int | torch.Tensor) -> int | torch.Tensor:
        """Frames of ``num_samples`` samples (centered frames: one more than whole hops; Whisper's: a hop of
        zeros appended, the last frame dropped, the same count); ints or tensors."""
        return 1 + num_samples // self.hop_samples


class LogMel(nn.Module):
    """(batch, samples) waveforms + lengths -> (batch, frames, n_mels) log-mel + frame lengths.

    Equal to ``log(librosa.feature.melspectrogram(y, sr, n_fft, hop_length, win_length, n_mels, htk=True,
    norm=None) + log_floor)`` (hann window, centered frames, zero padding, power 2).
    """

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        super().__init__()
        self.config = config
        fb = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, htk=True,
                                 norm=None)
        self.register_buffer("mel_fb", torch.from_numpy(fb.T.astype(np.float32)), persistent=False)  # (freq, mel)
        self.register_buffer("window", torch.hann_window(config.win_samples), persistent=False)

    @torch.no_grad()
    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        spec = torch.stft(wave.float(), n_fft=c.n_fft, hop_length=c.hop_samples, win_length=c.win_samples,
                          window=self.window, center=True, pad_mode="constant", return_complex=True)
        power = spec.real.square() + spec.imag.square()  # (batch, freq, frames)
        mel = torch.matmul(power.transpose(1, 2), self.mel_fb)  # (batch, frames, mel)
        feats = torch.log(mel + c.log_floor)
        return feats, c.num_frames(lengths)

    def batch(self, waves: "list[torch.Tensor | np.ndarray]") -> tuple[torch.Tensor, torch.Tensor]:
        """Waveforms of any lengths (1-D, 16 kHz) -> one zero-padded batch of log-mel (batch, frames, mel) +
        frame lengths, on this module's device."""
        device = self.mel_fb.device
        tensors = [torch.as_tensor(w, dtype=torch.float32) for w in waves]
        lengths = torch.tensor([len(w) for w in tensors], dtype=torch.long, device=device)
        padded = torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True).to(device)  # (batch, samples)
        return self(padded, lengths)


class WhisperLogMel(nn.Module):
    """(batch, samples) waveforms + lengths -> Whisper's log-mel (batch, frames, 80) + frame lengths: as
    faster-whisper's FeatureExtractor computes it for one item (a hop of zeros appended; 400-point hann FFT, 10 ms
    hop, the last frame dropped; slaney mel, log10, floored 8 decades under the item's loudest band, (x + 4) / 4),
    with zeros, not reflections, at the edges (an item's features never depend on its batch)."""

    N_FFT, HOP, N_MELS = 400, 160, 80

    def __init__(self, config: FeatureConfig = FeatureConfig(kind="whisper")):
        super().__init__()
        if (config.sample_rate, config.n_mels, config.hop_samples) != (16000, self.N_MELS, self.HOP):
            raise ValueError(f"Whisper's features are 80 mel bands every 10 ms of 16 kHz audio, not {config.n_mels} "
                             f"every {config.hop_length * 1000:g} ms of {config.sample_rate} Hz")
        self.config = config
        fb = librosa.filters.mel(sr=16000, n_fft=self.N_FFT, n_mels=self.N_MELS)  # slaney scale and area norm
        self.register_buffer("mel_fb", torch.from_numpy(fb.T.astype(np.float32)), persistent=False)  # (freq, mel)
        self.register_buffer("window", torch.hann_window(self.N_FFT), persistent=False)

    @torch.no_grad()
    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        wave = nn.functional.pad(wave.float(), (0, self.HOP))
        spec = torch.stft(wave, n_fft=self.N_FFT, hop_length=self.HOP, window=self.window, center=True,
                          pad_mode="constant", return_complex=True)[..., :-1]  # (batch, freq, frames)
        power = spec.real.square() + spec.imag.square()
        log = torch.log10(torch.matmul(power.transpose(1, 2), self.mel_fb).clamp(min=1e-10))  # (batch, frames, mel)
        frames = self.config.num_frames(lengths)
        valid = (torch.arange(log.shape[1], device=log.device)[None, :] < frames[:, None]).unsqueeze(-1)
        loudest = torch.where(valid, log, torch.full_like(log, -10.0)).amax(dim=(1, 2), keepdim=True)
        return (torch.maximum(log, loudest - 8.0) + 4.0) / 4.0, frames

    batch = LogMel.batch


def feature_extractor(config: FeatureConfig) -> LogMel | WhisperLogMel:
    """The features a config names (``kind``)."""
    if config.kind == "logmel":
        return LogMel(config)
    if config.kind == "whisper":
        return WhisperLogMel(config)
    raise ValueError(f"features.kind must be 'logmel' or 'whisper', got {config.kind!r}")


class GlobalCMVN(nn.Module):
    """Mean/variance normalization with stored global statistics; padded frames stay zero.

    ``utterance_mean=True`` subtracts each utterance's own mean per band instead of the global one (cepstral mean
    normalization: a fixed channel or gain is a constant offset in the log-mel domain, and it cancels), then divides
    by the global standard deviation; ``utterance_var=True`` (with it) divides by the utterance's own standard
    deviation per band instead (Kaldi's per-utterance CMVN with norm_vars: a compressed or expanded dynamic range
    cancels too), floored at ``STD_FLOOR``.
    """

    STD_FLOOR = 0.1  # log-mel units; a band that barely moves in one utterance (digital silence) is not blown up

    def __init__(self, n_mels: int = 80, utterance_mean: bool = False, utterance_var: bool = False):
        super().__init__()
        if utterance_var and not utterance_mean:
            raise ValueError("utterance_var needs utterance_mean (a variance around the global mean is not a scale)")
        self.utterance_mean, self.utterance_var = utterance_mean, utterance_var
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))

    def set_stats(self, stats: "CMVNStats") -> None:
        self.mean.copy_(torch.as_tensor(stats.mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(stats.std, dtype=torch.float32))

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = (torch.arange(feats.shape[1], device=feats.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        mean, std = self.mean, self.std
        if self.utterance_mean:  # (batch, 1, mel): each item's mean over its own frames
            count = lengths.clamp_min(1)[:, None, None].to(feats.dtype)
            mean = (feats * mask).sum(dim=1, keepdim=True) / count
            if self.utterance_var:  # (batch, 1, mel): and its own standard deviation
                std = ((((feats - mean) * mask) ** 2).sum(dim=1, keepdim=True) / count).sqrt().clamp_min(self.STD_FLOOR)
        return (feats - mean) / std * mask  # (batch, time, mel)


class CepstralSmoothing(nn.Module):
    """Keep the ``keep`` lowest cepstral coefficients of each frame (a type-II DCT over the mel axis, truncated,
    transformed back): the spectral envelope (formants) stays, the fine ripple of pitch harmonics goes, which makes
    the features less specific to a voice's excitation (MFCC-style liftering, left in the log-mel domain).
    ``keep=0`` (or >= n_mels) is the identity. Frames stay frames: (batch, time, mel) -> (batch, time, mel)."""

    def __init__(self, n_mels: int = 80, keep: int = 0):
        super().__init__()
        if keep < 0:
            raise ValueError(f"cepstral smoothing must keep >= 0 coefficients, got {keep}")
        self.keep = keep if 0 < keep < n_mels else 0
        if self.keep:
            dct = torch.from_numpy(scipy.fft.dct(np.eye(n_mels), norm="ortho", axis=0).astype(np.float32))  # (cep, mel)
            basis = dct[:self.keep]
            self.register_buffer("smooth", basis.T @ basis, persistent=False)  # (mel, mel), a projection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.smooth if self.keep else x


@dataclass
class CMVNStats:
    mean: list[float]
    std: list[float]
    frames: int

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> "CMVNStats":
        try:
            d = json.loads(Path(path).read_text())
            return cls(mean=[float(x) for x in d["mean"]], std=[float(x) for x in d["std"]], frames=int(d["frames"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a valid normalization-stats file ({e})") from e


class StatsAccumulator:
    """Running sums for CMVN in float64."""

    def __init__(self, n_mels: int):
        self.sum = torch.zeros(n_mels, dtype=torch.float64)
        self.sumsq = torch.zeros(n_mels, dtype=torch.float64)
        self.frames = 0

    def add(self, feats: torch.Tensor, lengths: torch.Tensor) -> None:
        mask = (torch.arange(feats.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
        x = (feats * mask).double()
        self.sum += x.sum(dim=(0, 1))
        self.sumsq += x.square().sum(dim=(0, 1))
        self.frames += int(lengths.sum())

    def result(self) -> CMVNStats:
        if self.frames == 0:
            raise ValueError("no frames to compute normalization statistics from")
        mean = self.sum / self.frames
        var = (self.sumsq / self.frames - mean.square()).clamp_min(1e-8)
        return CMVNStats(mean=mean.tolist(), std=[math.sqrt(v) for v in var.tolist()], frames=self.frames)


class StreamingLogMel:
    """LogMel for audio that arrives in pieces: ``accept(samples)`` returns the frames that are complete so far,
    ``flush()`` the rest at the end of the stream. The frames are those of ``LogMel`` on the whole signal (centered
    frames with zero padding: n_fft // 2 zeros lead the stream, and as many end it); the buffer holds under one
    frame's worth of samples, whatever the stream's length."""

    def __init__(self, logmel: LogMel):
        self.logmel = logmel
        c = logmel.config
        self.hop, self.n_fft = c.hop_samples, c.n_fft
        self.buffer = np.zeros(c.n_fft // 2, dtype=np.float32)  # the leading padding of a centered STFT
        self.samples = 0  # of audio accepted
        self.frames = 0  # emitted

    def _frames(self, count: int) -> torch.Tensor:
        """The next ``count`` frames from the buffer (which must hold them), dropping the samples no longer needed."""
        c = self.logmel.config
        if count <= 0:
            return torch.zeros(0, c.n_mels)
        span = torch.from_numpy(self.buffer[:(count - 1) * self.hop + self.n_fft])
        spec = torch.stft(span, n_fft=self.n_fft, hop_length=self.hop, win_length=c.win_samples,
                          window=self.logmel.window.cpu(), center=False, return_complex=True)
        power = spec.real.square() + spec.imag.square()  # (freq, frames)
        feats = torch.log(power.T @ self.logmel.mel_fb.cpu() + c.log_floor)  # (frames, mel)
        self.buffer = self.buffer[count * self.hop:]
        self.frames += count
        return feats

    def accept(self, samples: np.ndarray) -> torch.Tensor:
        """16 kHz mono float32 samples -> (frames, mel) of the frames now complete (often none for tiny pieces)."""
        self.buffer = np.concatenate([self.buffer, np.asarray(samples, dtype=np.float32)])
        self.samples += len(samples)
        ready = (len(self.buffer) - self.n_fft) // self.hop + 1 if len(self.buffer) >= self.n_fft else 0
        return self._frames(ready)

    def flush(self) -> torch.Tensor:
        """The last frames (the trailing padding of a centered STFT): the stream has ``num_frames(samples)``."""
        self.buffer = np.concatenate([self.buffer, np.zeros(self.n_fft // 2 + self.hop, dtype=np.float32)])
        return self._frames(int(self.logmel.config.num_frames(self.samples)) - self.frames)
