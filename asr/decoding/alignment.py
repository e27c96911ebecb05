"""Word timestamps and confidence from a CTC frame-level path (greedy best path or a beam hypothesis's path).

A CTC model emits each character as a short spike of one or a few frames; a word spans from the first frame of its
first character to the last frame of its last character. Its confidence is the geometric mean of the posteriors of
its characters' frames (1.0: the model had no doubt; low values flag likely errors).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from asr.text import Tokenizer


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds
    end: float  # seconds
    confidence: float  # 0..1


PAUSE = 0.5  # seconds without a character that separate two words


def best_path(log_probs: torch.Tensor) -> list[int]:
    """(time, vocab) -> the frame-level argmax path (greedy decoding before collapsing)."""
    return log_probs.argmax(dim=-1).tolist()


def words_from_path(path: list[int], log_probs: torch.Tensor, tokenizer: Tokenizer, frame_seconds: float,
                    offset: float = 0.0, pause: float = PAUSE) -> list[Word]:
    """Words of a frame-level CTC path (``len(path) == time``) with start/end times and confidence. A silence of
    ``pause`` seconds or more between two characters ends a word even when the model emitted no space there (it
    happens where utterances meet in a long recording: a model trained on single sentences never saw a space
    between them)."""
    blank, space = tokenizer.blank_id, tokenizer.tokens.index(" ")
    logp = log_probs.detach().float().cpu()
    chars: list[tuple[int, int, int, float]] = []  # (token, first frame, last frame, summed log-posterior)
    counts: list[int] = []
    prev = blank
    for t, token in enumerate(path):
        if token != blank and token == prev and chars:  # the same character, held over several frames
            tok, first, _, total = chars[-1]
            chars[-1] = (tok, first, t, total + float(logp[t, token]))
            counts[-1] += 1
        elif token != blank:
            chars.append((token, t, t, float(logp[t, token])))
            counts.append(1)
        prev = token
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
