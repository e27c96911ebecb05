"""Streaming recognition: audio in pieces -> partial results while it arrives, words final as soon as they end.

    stream = StreamingRecognizer(load_package("exp/mini_stream/model"))
    for piece in pieces:                       # 16 kHz mono float32, any sizes
        update = stream.accept(piece)          # update.partial: the text so far; update.final: words just settled
    update = stream.finish()                   # the last words; stream.transcript(): the whole result

Greedy CTC on a left-to-right model (model=lstm_stream): a character, once emitted, never changes, so the only
thing a partial can still change is its last, unfinished word. A word is final when the model emits a space after
it, or after ``pause`` seconds without a character (``asr.decoding.incremental``: the same words with the same times
as offline). Memory stays constant: the decoder keeps the frames of the unfinished word only."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from asr.audio import SAMPLE_RATE
from asr.decoding.alignment import PAUSE, Word
from asr.decoding.incremental import IncrementalGreedy
from asr.features import LogMel, StreamingLogMel
from asr.models.streaming import StreamingAcoustic
from asr.package import ModelPackage


@dataclass
class StreamUpdate:
    partial: str  # everything recognized so far: the final words and the unfinished one
    final: list[Word] = field(default_factory=list)  # words that became final with this piece of audio
    seconds: float = 0.0  # audio received so far
    done: bool = False  # the stream has ended (finish())


class StreamingRecognizer:
    def __init__(self, package: ModelPackage, pause: float = PAUSE, max_word_seconds: float = 10.0):
        self.package = package
        self.tokenizer = package.tokenizer
        self.features = StreamingLogMel(LogMel(package.features))
        self.acoustic = StreamingAcoustic(package.model)
        frame_seconds = package.features.hop_samples * package.model.subsampling_factor / SAMPLE_RATE
        self.decoder = IncrementalGreedy(self.tokenizer, frame_seconds, pause, max_word_seconds)
        self.words: list[Word] = []  # final

    def accept(self, samples: np.ndarray) -> StreamUpdate:
        """A piece of 16 kHz mono float32 audio -> what is known now."""
        return self._advance(self.acoustic.accept(self.features.accept(samples)), done=False)

    def finish(self) -> StreamUpdate:
        """The end of the stream: the last frames, the last word final."""
        feats = self.features.flush()
        log_probs = torch.cat([self.acoustic.accept(feats), self.acoustic.flush()])
        return self._advance(log_probs, done=True)

    def transcript(self):
        from asr.transcribe import Transcript

        return Transcript(" ".join(w.text for w in self.words), round(self.features.samples / SAMPLE_RATE, 3),
                          "<stream>", list(self.words))

    def _advance(self, log_probs: torch.Tensor, done: bool) -> StreamUpdate:
        new = self.decoder.push(log_probs, final=done)
        self.words += new
        pending = self.decoder.pending_text()
        partial = " ".join([w.text for w in self.words] + ([pending] if pending else []))
        return StreamUpdate(partial, new, round(self.features.samples / SAMPLE_RATE, 3), done)
