"""Word timestamps and confidence from a CTC frame-level path (greedy best path or a beam hypothesis's path).

A CTC model emits each character as a short spike of one or a few frames; a word spans from the first frame of its
first character to the last frame of its last character. Its confidence is the geometric mean of the posteriors of
its characters' frames (1.0: the model had no doubt; low values flag likely errors).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from asr.decoding.ctc import segments
from asr.text import Tokenizer


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds
    end: float  # seconds
    confidence: float  # 0..1


PAUSE = 0.5  # seconds without a character that separate two words


def words_from_path(path: list[int], log_probs: torch.Tensor, tokenizer: Tokenizer, frame_seconds: float,
                    offset: float = 0.0, pause: float = PAUSE) -> list[Word]:
    """Words of a frame-level CTC path (``len(path) == time``) with start/end times and confidence. A silence of
    ``pause`` seconds or more between two characters ends a word even when the model emitted no space there (it
    happens where utterances meet in a long recording: a model trained on single sentences never saw a space
    between them)."""
    space = tokenizer.tokens.index(" ")
    logp = log_probs.detach().float().cpu()
    # (token, first frame, last frame, summed log-posterior over the run's frames)
    runs = segments(path, tokenizer.blank_id)
    chars = [(s.token, s.first, s.last, float(logp[s.first:s.last + 1, s.token].sum())) for s in runs]
    counts = [s.last - s.first + 1 for s in runs]
    words: list[Word] = []
    current: list[int] = []

    def flush() -> None:
        if current:
            text = tokenizer.decode([chars[i][0] for i in current])
            first, last = chars[current[0]][1], chars[current[-1]][2]
            mean = sum(chars[i][3] for i in current) / sum(counts[i] for i in current)
            words.append(Word(text, round(offset + first * frame_seconds, 3),
                              round(offset + (last + 1) * frame_seconds, 3), round(float(torch.tensor(mean).exp()), 4)))
            current.clear()

    for i, (token, first, _last, _total) in enumerate(chars):
        if token == space:
            flush()
            continue
        if current and (first - chars[current[-1]][2]) * frame_seconds >= pause:
            flush()
        current.append(i)
    flush()
    return words
