"""The inference API: ``load_model(path).transcribe(...)`` and the `asr transcribe` command."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from asr.audio import SAMPLE_RATE, AudioError, load_audio, to_mono_16k
from asr.decoding.greedy import greedy_decode
from asr.features import LogMel
from asr.package import ModelPackage, load_package


@dataclass
class Transcript:
    text: str
    duration: float  # seconds of audio
    source: str = ""


class Recognizer:
    """A loaded model package: features + acoustic model + greedy decoding, batched by total audio length."""

    def __init__(self, package: ModelPackage, device: str = "cpu"):
        self.package = package
        self.model = package.model.to(device).eval()
        self.tokenizer = package.tokenizer
        self.logmel = LogMel(package.features).to(device)
        self.device = device

    @torch.inference_mode()
    def decode_waves(self, waves: list[np.ndarray]) -> list[str]:
        """16 kHz mono float32 waveforms -> texts (one padded batch)."""
        lengths = torch.tensor([len(w) for w in waves])
        padded = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(w) for w in waves], batch_first=True)
        feats, frames = self.logmel(padded.to(self.device), lengths.to(self.device))  # (batch, frames, mel)
        out = self.model(feats, frames)
        return greedy_decode(out.log_probs, out.lengths, self.tokenizer)

    def decode_batched(self, waves: list[np.ndarray], batch_seconds: float = 120.0) -> list[str]:
        """Sort by length and decode in batches of at most ``batch_seconds`` of padded audio."""
        order = sorted(range(len(waves)), key=lambda i: len(waves[i]))
        texts: list[str] = [""] * len(waves)
        batch: list[int] = []
        for i in order + [None]:
            full = i is not None and batch and len(waves[i]) * (len(batch) + 1) > batch_seconds * SAMPLE_RATE
            if batch and (i is None or full):
                for j, text in zip(batch, self.decode_waves([waves[j] for j in batch])):
                    texts[j] = text
                batch = []
            if i is not None:
                batch.append(i)
        return texts

    def transcribe(self, audio: str | Path | np.ndarray | list, sample_rate: int | None = None,
                   batch_seconds: float = 120.0) -> Transcript | list[Transcript]:
        """A path or an array (with ``sample_rate``), or a list of them -> Transcript(s)."""
        items = audio if isinstance(audio, list) else [audio]
        waves, names = [], []
        for item in items:
            if isinstance(item, (str, Path)):
                waves.append(load_audio(item))
                names.append(str(item))
            else:
                if sample_rate is None:
                    raise ValueError("sample_rate is required when transcribing an array")
                waves.append(to_mono_16k(np.asarray(item), sample_rate))
                names.append("<array>")
        texts = self.decode_batched(waves, batch_seconds)
        results = [Transcript(t, len(w) / SAMPLE_RATE, n) for t, w, n in zip(texts, waves, names)]
        return results if isinstance(audio, list) else results[0]


def load_model(path: str | Path, device: str = "cpu") -> Recognizer:
    return Recognizer(load_package(path, device), device)


def run_transcribe(model: Path, files: list[Path], as_json: bool = False, batch_seconds: float = 120.0) -> int:
    """Transcribe every readable file (one line each, in input order); errors go to stderr, exit 1 if any."""
    recognizer = load_model(model)
    waves, ok_files, failures = [], [], []
    for f in files:
        try:
            waves.append(load_audio(f))
            ok_files.append(f)
        except AudioError as e:
            failures.append(str(e))
            print(f"asr transcribe: error: {e}", file=sys.stderr)
    start = time.perf_counter()
    texts = recognizer.decode_batched(waves, batch_seconds) if waves else []
    elapsed = time.perf_counter() - start
    for f, w, text in zip(ok_files, waves, texts):
        if as_json:
            print(json.dumps(asdict(Transcript(text, round(len(w) / SAMPLE_RATE, 3), str(f)))))
        else:
            print(f"{f}\t{text}" if len(files) > 1 else text)
    audio_s = sum(len(w) for w in waves) / SAMPLE_RATE
    if audio_s:
        print(f"{len(waves)} file(s), {audio_s:.1f} s of audio, RTF {elapsed / audio_s:.4f}", file=sys.stderr)
    if failures:
        print(f"asr transcribe: {len(failures)} of {len(files)} file(s) failed", file=sys.stderr)
        return 1
    return 0
