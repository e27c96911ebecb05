"""Streaming recognition: audio in pieces -> partial results while it arrives, words final as soon as they end.

    stream = StreamingRecognizer(load_package("exp/mini/stream/model"))
    for piece in pieces:                       # 16 kHz mono float32, any sizes
        update = stream.accept(piece)          # update.partial: the text so far; update.final: words just settled
    update = stream.finish()                   # the last words; stream.transcript(): the whole result

Greedy CTC on a streaming model (a chunked BiLSTM, model=blstm_chunked, or a left-to-right one, model=lstm_stream):
its output frames, once emitted, never change, so a character once shown never changes either, and the only
thing a partial can still change is its last, unfinished word. A word is final when the model emits a space after
it, or after ``pause`` seconds without a character (``asr.decoding.incremental``: the same words with the same times
as offline). Memory stays constant: the decoder keeps the frames of the unfinished word only."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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


def update_events(update: StreamUpdate, shown: str) -> list[dict]:
    """The JSON events of an update, for a client that last saw the partial ``shown``: ``final`` when words settled,
    ``partial`` when the text so far changed (`asr transcribe --stream --format json`, the WebSocket route)."""
    events = []
    if update.final:
        events.append({"type": "final", "words": [asdict(w) for w in update.final], "seconds": update.seconds})
    if update.partial != shown and not update.done:
        events.append({"type": "partial", "text": update.partial, "seconds": update.seconds})
    return events


def done_event(transcript) -> dict:
    """The last event of a stream: the whole result."""
    return {"type": "done", "text": transcript.text, "duration": transcript.duration,
            "words": [asdict(w) for w in transcript.words]}


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
