"""Greedy (best-path) CTC decoding: the argmax token of every frame, then CTC's collapse (``ctc.py``)."""

from __future__ import annotations

import torch

from asr.decoding.ctc import path_text
from asr.text import Tokenizer


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, tokenizer: Tokenizer) -> list[str]:
    """(batch, time, vocab) log-probs + lengths -> one text per item."""
    best = log_probs.argmax(dim=-1).cpu()  # (batch, time)
    return [path_text(best[b, :n].tolist(), tokenizer) for b, n in enumerate(lengths.cpu().tolist())]
