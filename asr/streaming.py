"""Streaming recognition: audio in pieces -> partial results while it arrives, words final as soon as they end.

    stream = StreamingRecognizer(load_package("exp/mini_stream/model"))
    for piece in pieces:                       # 16 kHz mono float32, any sizes
        update = stream.accept(piece)          # update.partial: the text so far; update.final: words just settled
    update = stream.finish()                   # the last words; stream.transcript(): the whole result

Greedy CTC on a left-to-right model (model=lstm_stream): a character, once emitted, never changes, so the only
thing a partial can still change is its last, unfinished word. A word is final when the model emits a space after
it, or after ``pause`` seconds without a character (the rule of ``words_from_path``, which gives the same words with
the same times offline). Memory stays constant: the decoder keeps the frames of the unfinished word only (a word
running past ``max_word_seconds`` is cut there)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from asr.audio import SAMPLE_RATE
from asr.decoding.alignment import PAUSE, Word, words_from_path
from asr.decoding.ctc import path_text, segments
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
        self.frame_seconds = package.features.hop_samples * package.model.subsampling_factor / SAMPLE_RATE
        self.pause_frames = max(1, round(pause / self.frame_seconds))
        self.max_frames = round(max_word_seconds / self.frame_seconds)
        self.space = self.tokenizer.tokens.index(" ")
        self.words: list[Word] = []  # final
        self.start = 0  # output frame where the pending frames begin
        self.path: list[int] = []  # greedy tokens of the pending frames
        self.log_probs = torch.zeros(0, len(self.tokenizer))  # (pending frames, vocab)

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
        self.log_probs = torch.cat([self.log_probs, log_probs])
        self.path += log_probs.argmax(dim=-1).tolist()
        cut = len(self.path) if done else self._settled()
        new = []
        if cut > 0:
            new = words_from_path(self.path[:cut], self.log_probs[:cut], self.tokenizer, self.frame_seconds,
                                  offset=self.start * self.frame_seconds)
            self.words += new
            self.start += cut
            self.path, self.log_probs = self.path[cut:], self.log_probs[cut:]
        pending = path_text(self.path, self.tokenizer)
        partial = " ".join([w.text for w in self.words] + ([pending] if pending else []))
        return StreamUpdate(partial, new, round(self.features.samples / SAMPLE_RATE, 3), done)

    def _settled(self) -> int:
        """How many pending frames hold only finished words: up to the last space run, or all of them when the
        last character is ``pause`` or more behind (or the pending word has run too long)."""
        runs = segments(self.path, self.tokenizer.blank_id)
        if not runs:
            return len(self.path) if len(self.path) >= self.pause_frames else 0
        if len(self.path) - 1 - runs[-1].last >= self.pause_frames or len(self.path) >= self.max_frames:
            return len(self.path)
        spaces = [r.first for r in runs if r.token == self.space]
        return spaces[-1] if spaces else 0
