"""The one home of CTC's path rules: a frame-level path (one token per frame) -> the characters it spells.

A character is a run of equal non-blank tokens; blanks separate runs, so a doubled letter needs a blank between
its two runs. ``segments`` keeps each character's first and last frame (for word times), ``collapse`` only the
tokens, ``path_text`` the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from asr.text import Tokenizer


class Segment(NamedTuple):
    token: int
    first: int  # frame index of the first frame of the run
    last: int  # frame index of its last frame


def best_path(log_probs: torch.Tensor) -> list[int]:
    """(time, vocab) -> the frame-level argmax path (greedy decoding before collapsing)."""
    return log_probs.argmax(dim=-1).tolist()


def segments(path: Sequence[int], blank: int = 0) -> list[Segment]:
    """Runs of equal non-blank tokens with their frame spans; negative ids (padding) count as blanks."""
    out: list[Segment] = []
    prev = blank
    for t, token in enumerate(path):
        if token < 0:
            token = blank
        if token != blank and token == prev:
            out[-1] = out[-1]._replace(last=t)
        elif token != blank:
            out.append(Segment(token, t, t))
        prev = token
    return out


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """Repeats collapsed, blanks removed: the token ids a CTC path spells."""
    return [s.token for s in segments(path, blank)]


def path_text(path: Sequence[int], tokenizer: Tokenizer) -> str:
    """The text a frame-level path spells, with single spaces between words."""
    return " ".join(tokenizer.decode(collapse(path, tokenizer.blank_id)).split())
