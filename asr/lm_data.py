"""Text files -> token-id sentences -> length-bucketed LM batches; perplexity of a text."""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from asr.batching import length_batches
from asr.models.lm import CharLM, make_lm_batch, token_log_probs
from asr.text import Tokenizer, normalize_text

log = logging.getLogger(__name__)


def read_sentences(paths: str | Path | list, tokenizer: Tokenizer,
                   max_chars: int = 400) -> tuple[list[list[int]], Counter]:
    """One sentence per line, normalized and encoded; unusable lines are counted skips (never silent)."""
    sentences, skipped = [], Counter()
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such text file")
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            text = normalize_text(line)
            if not text:
                skipped["empty line"] += int(bool(line.strip()))
                continue
            if tokenizer.unknown_chars(text):
                skipped["characters outside the token set"] += 1
                continue
            if len(text) > max_chars:
                skipped[f"longer than {max_chars} characters"] += 1
                continue
            sentences.append(tokenizer.encode(text, normalize=False))
    if skipped:
        log.warning("%s: skipped %d lines: %s", paths, sum(skipped.values()), dict(skipped))
    return sentences, skipped


class LMBatches(Dataset):
    """Sentences grouped by length into batches of at most ``batch_tokens`` padded tokens; shuffled per epoch."""

    def __init__(self, sentences: list[list[int]], batch_tokens: int = 8000, shuffle: bool = True, seed: int = 0):
        self.batches = length_batches([len(s) + 1 for s in sentences], batch_tokens)  # +1: <s> / </s>
        self.sentences, self.shuffle, self.seed, self.epoch = sentences, shuffle, seed, 0
        self.order = list(range(len(self.batches)))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = list(range(len(self.batches)))
        if self.shuffle:
            random.Random(self.seed + epoch).shuffle(self.order)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int):
        return make_lm_batch([self.sentences[j] for j in self.batches[self.order[i]]])


def lm_loader(sentences: list[list[int]], batch_tokens: int, shuffle: bool, seed: int = 0) -> DataLoader:
    # its own generator: starting an epoch's iterator must not draw from the global random state (exact resume)
    return DataLoader(LMBatches(sentences, batch_tokens, shuffle, seed), batch_size=None, shuffle=False,
                      generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def score_sentences(model: CharLM, sequences: list[list[int]], batch_tokens: int = 20000) -> list[float]:
    """Total log-probability (natural log, ``</s>`` included) of each sentence, in length-bucketed batches."""
    model.eval()
    device = next(model.parameters()).device
    batches = LMBatches(sequences, batch_tokens, shuffle=False)
    scores = [0.0] * len(sequences)
    for i, (inputs, targets, lengths) in enumerate(batches):
        lp = token_log_probs(model, inputs.to(device), targets.to(device), lengths.to(device)).sum(dim=1)
        for j, v in zip(batches.batches[i], lp.tolist()):
            scores[j] = v
    return scores


@torch.no_grad()
def perplexity(model: CharLM, sentences: list[list[int]], batch_tokens: int = 20000) -> tuple[float, float, int]:
    """(perplexity per token, bits per character, tokens scored); ``</s>`` counts as a token."""
    model.eval()
    device = next(model.parameters()).device
    nll, tokens = 0.0, 0
    for inputs, targets, lengths in tqdm(lm_loader(sentences, batch_tokens, shuffle=False), desc="Perplexity",
                                         unit="batch", leave=False):
        lp = token_log_probs(model, inputs.to(device), targets.to(device), lengths.to(device))
        nll -= float(lp.sum())
        tokens += int(lengths.sum())
    if tokens == 0:
        raise ValueError("no sentence to score")
    return math.exp(nll / tokens), nll / tokens / math.log(2), tokens
