"""The inference API: ``load_model(path).transcribe(...)`` (the `asr transcribe` command: transcribe_files.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm.auto import tqdm

from asr.audio import SAMPLE_RATE, AudioError, audio_blocks, load_audio, to_mono_16k
from asr.batching import length_batches
from asr.decoding.alignment import Word, words_from_path
from asr.decoding.config import DecodeSettings
from asr.decoding.incremental import IncrementalGreedy
from asr.decoding.settings import Decoded, make_decoder
from asr.features import feature_extractor
from asr.package import ModelPackage, file_digest, load_package
from asr.runtime import acoustic_runtime
from asr.windows import WindowConfig, plan_windows, stitch

log = logging.getLogger(__name__)


@dataclass
class Transcript:
    text: str
    duration: float  # seconds of audio
    source: str = ""
    words: list[Word] = field(default_factory=list)  # with start / end (seconds) and confidence


class Recognizer:
    """A loaded model package: features + acoustic model + a decoder (greedy, beam or beam + LM rescoring),
    batched by total audio length."""

    def __init__(self, package: ModelPackage, device: str = "cpu", decode: DecodeSettings | None = None, lm=None,
                 windows: WindowConfig = WindowConfig(), acoustic=None):
        self.package = package
        # the acoustic model: the package's PyTorch module, or an exported one with its interface (asr.export)
        self.model = (acoustic or package.model).to(device).eval()
        self.tokenizer = package.tokenizer
        self.logmel = feature_extractor(package.features).to(device)
        self.device = device
        self.lm = lm
        self.settings = decode or DecodeSettings()
        self.decoder = make_decoder(self.settings, self.tokenizer, lm)
        self.windows = windows
        self.frame_samples = package.features.hop_samples * self.model.subsampling_factor
        self.frame_seconds = self.frame_samples / SAMPLE_RATE

    def _output_frames(self, samples: int) -> int:
        """The model's output frames for ``samples`` of 16 kHz audio."""
        return int(self.model.output_lengths(torch.tensor(self.package.features.num_frames(samples))))

    @torch.inference_mode()
    def features(self, waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """16 kHz mono float32 waveforms -> one padded batch of log-mel features (batch, frames, mel) + frames."""
        return self.logmel.batch(waves)

    @torch.inference_mode()
    def _emissions(self, waves: list[np.ndarray]) -> list[torch.Tensor]:
        """16 kHz mono float32 waveforms (one padded batch) -> per-utterance (time', vocab) log-probs."""
        out = self.model(*self.features(waves))
        return [out.log_probs[b, :n].cpu() for b, n in enumerate(out.lengths.tolist())]

    def emissions(self, waves: list[np.ndarray], batch_seconds: float = 120.0,
                  progress: bool = False) -> list[torch.Tensor]:
        """Log-probs of every waveform. Long ones are cut into overlapping windows (see ``asr.windows``); all pieces
        run in length-sorted batches of <= ``batch_seconds`` padded audio, then each input's windows are stitched."""
        plans, pieces = [], []  # per input: its windows; all pieces: (input, window)
        for i, wave in enumerate(waves):
            total = self._output_frames(len(wave))
            plan = plan_windows(len(wave), total, self.frame_samples, SAMPLE_RATE, self.windows)
            plans.append(plan)
            pieces += [(i, k) for k in range(len(plan))]
        batches = length_batches([plans[i][k].end - plans[i][k].start for i, k in pieces],
                                 batch_seconds * SAMPLE_RATE)
        out: dict[int, torch.Tensor] = {}
        for batch in tqdm(batches, desc="Acoustic model", unit="batch", disable=not progress, leave=False):
            views = [waves[pieces[j][0]][plans[pieces[j][0]][pieces[j][1]].start:
                                        plans[pieces[j][0]][pieces[j][1]].end] for j in batch]
            out.update(zip(batch, self._emissions(views)))
        result, j = [], 0
        for plan in plans:
            result.append(stitch(plan, [out[j + k] for k in range(len(plan))]))
            j += len(plan)
        return result

    def transcripts(self, waves: list[np.ndarray], names: list[str], batch_seconds: float = 120.0,
                    progress: bool = False) -> list[Transcript]:
        """16 kHz mono waveforms -> transcripts with word times and confidence."""
        emissions = self.emissions(waves, batch_seconds, progress)
        return self._results(emissions, [len(w) for w in waves], names)

    def _results(self, emissions: list[torch.Tensor], samples: list[int], names: list[str]) -> list[Transcript]:
        decoded: list[Decoded] = self.decoder(emissions)
        out = []
        for d, e, n, name in zip(decoded, emissions, samples, names):
            words = words_from_path(list(d.path), e, self.tokenizer, self.frame_seconds)
            # the text is its words: a long pause inside a decoded "word" splits it (see words_from_path)
            text = " ".join(x.text for x in words) if words else d.text
            out.append(Transcript(text, round(n / SAMPLE_RATE, 3), name, words))
        return out

    def transcribe_file(self, path: str | Path, block_seconds: float = 10.0) -> Transcript:
        """A file of any length with memory bounded by one window: read in blocks (``asr.audio.audio_blocks``),
        each window run as soon as its audio is in and its samples dropped once the next window starts. Greedy
        decoding settles words window by window (``IncrementalGreedy``: only the unfinished word's frames are
        kept); beam search keeps the log-probs (~0.2 MB per minute) for the decoder. Same windows, same result as
        ``transcribe(path)`` for 16 kHz files."""
        info = sf.info(str(path)) if Path(path).is_file() else None
        estimate = round(info.frames * SAMPLE_RATE / info.samplerate) if info else 0
        plan = plan_windows(estimate, self._output_frames(estimate), self.frame_samples, SAMPLE_RATE, self.windows)
        greedy = IncrementalGreedy(self.tokenizer, self.frame_seconds) if self.settings.method == "greedy" else None
        buffer, offset, k, parts, words = np.zeros(0, np.float32), 0, 0, [], []

        def take(log_probs: torch.Tensor, final: bool = False) -> None:
            if greedy is None:
                parts.append(log_probs)
            else:
                words.extend(greedy.push(log_probs, final))

        for block in audio_blocks(path, block_seconds):  # errors name the file
            buffer = np.concatenate([buffer, block])
            while k < len(plan) - 1 and offset + len(buffer) >= plan[k].end:
                w = plan[k]
                take(stitch([w], self._emissions([buffer[w.start - offset:w.end - offset]])))
                drop = plan[k + 1].start - offset  # no later window needs the samples before its start
                buffer, offset, k = buffer[drop:], offset + drop, k + 1
        samples = offset + len(buffer)
        if samples == 0:
            raise AudioError(f"{path}: the audio has zero samples")
        # the estimate's end -> the real one
        last = replace(plan[-1], end=samples, keep_to=self._output_frames(samples))
        take(stitch([last], self._emissions([buffer[last.start - offset:]])), final=True)
        if greedy is None:
            return self._results([torch.cat(parts)], [samples], [str(path)])[0]
        return Transcript(" ".join(w.text for w in words), round(samples / SAMPLE_RATE, 3), str(path), words)

    def transcribe(self, audio: str | Path | np.ndarray | list, sample_rate: int | None = None,
                   batch_seconds: float = 120.0) -> Transcript | list[Transcript]:
        """A path or an array (with ``sample_rate``), or a list of them -> Transcript(s) with text, words (start,
        end, confidence) and duration. Any length: long inputs are windowed."""
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
        results = self.transcripts(waves, names, batch_seconds)
        return results if isinstance(audio, list) else results[0]


def _given_file(path: str | Path, what: str) -> str:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such {what} file")
    return str(path)


def _package_file(package: str | Path, name: str, what: str) -> str | None:
    """A file the package's decode settings name: absolute, or relative to the package (`asr tune` copies its
    lexicon and n-gram there); None, with a warning, when it is not there."""
    stored = Path(package) / name
    if stored.is_file():
        return str(stored)
    log.warning("%s: the package's %s %s is not there; decoding without it", package, what, name)
    return None


def load_model(path: str | Path, device: str = "cpu", lm: str | Path | None = None,
               decode: str | None = None, runtime: str = "torch", ngram: str | Path | None = None,
               ngram_weight: float | None = None, lexicon: str | Path | None = None) -> Recognizer:
    """A model package, optionally with an LM package. Decoding: ``decode`` (greedy | beam | beam_lm) or, by
    default, beam_lm with the package's tuned settings when an LM is given, else greedy. A package may carry its
    LM in ``lm/`` (as the shipped English model does): it is used unless ``decode`` says otherwise. ``runtime``:
    torch, or onnx / onnx-int8 to run the acoustic model exported by `asr export --format onnx` with onnxruntime.
    ``ngram``: a KenLM n-gram inside the beam (ARPA or KenLM binary; characters, or words with a lexicon), with
    ``ngram_weight`` (default: the package's tuned weight, else 0.5); decoding is then beam search unless ``decode``
    says otherwise. A package whose tuned decoding is its n-gram (method beam) does not load its bundled LSTM LM
    unless ``decode`` is beam_lm.
    ``lexicon``: a word list; beam search (with or without an LM) emits only its words (default: the package's
    tuned one, a path relative to the package); decoding is then beam search unless ``decode`` says otherwise."""
    package = load_package(path, device)
    bundled = Path(path) / "lm"
    tuned_method = (package.decode or {}).get("method")
    if lm is None and ngram is None and (decode == "beam_lm" or (decode is None and tuned_method != "beam")) and (
            bundled / "config.yaml").is_file():
        lm = bundled
    acoustic = acoustic_runtime(path, package.model, runtime)
    lm_model = None
    if lm is not None:
        from asr.lm_package import load_lm_for

        lm_model = load_lm_for(lm, package.tokenizer, device)
    settings = DecodeSettings.from_dict(package.decode)
    tuned_with = (package.decode or {}).get("lm") or {}
    if lm is not None and tuned_with.get("sha256") and tuned_with["sha256"] != file_digest(lm):
        log.warning("%s: the decoding weights in %s were tuned with another LM (%s); run `asr tune` for this one",
                    lm, path, tuned_with.get("path"))
    if ngram is not None:
        weight = ngram_weight if ngram_weight is not None else (settings.ngram_weight or 0.5)
        settings = replace(settings, ngram=_given_file(ngram, "n-gram"), ngram_weight=weight)
    elif settings.ngram:
        settings = replace(settings, ngram=_package_file(path, settings.ngram, "n-gram"))
        if settings.ngram is None and settings.method == "beam":
            settings = replace(settings, method="greedy")
    if lexicon is not None:
        settings = replace(settings, lexicon=_given_file(lexicon, "lexicon"))
    elif settings.lexicon:
        settings = replace(settings, lexicon=_package_file(path, settings.lexicon, "lexicon"))
    method = decode or ("beam_lm" if lm is not None else ("beam" if ngram is not None or lexicon is not None else (
        "greedy" if settings.method == "beam_lm" else settings.method)))
    return Recognizer(package, device, settings.with_method(method), lm_model, acoustic=acoustic)
