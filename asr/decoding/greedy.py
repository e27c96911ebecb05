"""Greedy (best-path) CTC decoding."""

from __future__ import annotations

import torch

from asr.text import Tokenizer


def greedy_ids(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """(batch, time, vocab) log-probs + lengths -> token ids per item (repeats collapsed, blanks removed)."""
    best = log_probs.argmax(dim=-1).cpu()  # (batch, time)
    prev = torch.nn.functional.pad(best, (1, 0), value=blank)[:, :-1]
    keep = (best != blank) & (best != prev)
    return [best[b, :n][keep[b, :n]].tolist() for b, n in enumerate(lengths.cpu().tolist())]


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, tokenizer: Tokenizer) -> list[str]:
    return [" ".join(tokenizer.decode(ids).split()) for ids in greedy_ids(log_probs, lengths, tokenizer.blank_id)]
