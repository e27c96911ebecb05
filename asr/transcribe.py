"""The inference API: ``load_model(path).transcribe(...)`` and the `asr transcribe` command."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from asr.audio import SAMPLE_RATE, AudioError, load_audio, to_mono_16k
from asr.decoding.settings import DecodeSettings, make_decoder
from asr.features import LogMel
from asr.package import ModelPackage, load_package


@dataclass
class Transcript:
    text: str
    duration: float  # seconds of audio
    source: str = ""


class Recognizer:
    """A loaded model package: features + acoustic model + a decoder (greedy, beam or beam + LM rescoring),
    batched by total audio length."""

    def __init__(self, package: ModelPackage, device: str = "cpu", decode: DecodeSettings | None = None, lm=None):
        self.package = package
        self.model = package.model.to(device).eval()
        self.tokenizer = package.tokenizer
        self.logmel = LogMel(package.features).to(device)
        self.device = device
        self.lm = lm
        self.settings = decode or DecodeSettings()
        self.decoder = make_decoder(self.settings, self.tokenizer, lm)

    @torch.inference_mode()
    def _emissions(self, waves: list[np.ndarray]) -> list[torch.Tensor]:
        """16 kHz mono float32 waveforms (one padded batch) -> per-utterance (time', vocab) log-probs."""
        lengths = torch.tensor([len(w) for w in waves])
        padded = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(w) for w in waves], batch_first=True)
        feats, frames = self.logmel(padded.to(self.device), lengths.to(self.device))  # (batch, frames, mel)
        out = self.model(feats, frames)
        return [out.log_probs[b, :n].cpu() for b, n in enumerate(out.lengths.tolist())]

    def emissions(self, waves: list[np.ndarray], batch_seconds: float = 120.0,
                  progress: bool = False) -> list[torch.Tensor]:
        """Log-probs of every waveform, computed in length-sorted batches of <= ``batch_seconds`` padded audio."""
        order = sorted(range(len(waves)), key=lambda i: len(waves[i]))
        result: list[torch.Tensor | None] = [None] * len(waves)
        batches, batch = [], []
        for i in order:
            if batch and len(waves[i]) * (len(batch) + 1) > batch_seconds * SAMPLE_RATE:
                batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            batches.append(batch)
        for batch in tqdm(batches, desc="Acoustic model", unit="batch", disable=not progress, leave=False):
            for j, e in zip(batch, self._emissions([waves[j] for j in batch])):
                result[j] = e
        return result

    def decode_batched(self, waves: list[np.ndarray], batch_seconds: float = 120.0) -> list[str]:
        return self.decoder(self.emissions(waves, batch_seconds))

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


def load_model(path: str | Path, device: str = "cpu", lm: str | Path | None = None,
               decode: str | None = None) -> Recognizer:
    """A model package, optionally with an LM package. Decoding: ``decode`` (greedy | beam | beam_lm) or, by
    default, beam_lm with the package's tuned settings when an LM is given, else greedy."""
    package = load_package(path, device)
    lm_model = None
    if lm is not None:
        from asr.lm_package import load_lm_package

        lm_pkg = load_lm_package(lm, device)
        if lm_pkg.tokenizer.tokens != package.tokenizer.tokens:
            raise ValueError(f"{lm}: the LM's token set differs from the model's")
        lm_model = lm_pkg.model
    settings = DecodeSettings.from_dict(package.decode)
    method = decode or ("beam_lm" if lm is not None else ("greedy" if settings.method == "beam_lm" else
                                                           settings.method))
    return Recognizer(package, device, settings.with_method(method), lm_model)


def run_transcribe(model: Path, files: list[Path], as_json: bool = False, batch_seconds: float = 120.0,
                   lm: Path | None = None, decode: str | None = None) -> int:
    """Transcribe every readable file (one line each, in input order); errors go to stderr, exit 1 if any."""
    recognizer = load_model(model, lm=lm, decode=decode)
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
