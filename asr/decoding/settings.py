"""Decoding settings (greedy, beam, beam + LSTM LM by shallow fusion or rescoring) and the decoder they build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from asr.decoding.beam import BeamSearch, Hypothesis
from asr.decoding.config import DecodeSettings
from asr.decoding.ctc import best_path, path_text
from asr.decoding.rescore import rescore
from asr.text import Tokenizer


@dataclass(frozen=True)
class Decoded:
    text: str
    path: list[int] | tuple[int, ...]  # frame-level token ids, one per frame (for word timestamps)


Decoder = Callable[[list[torch.Tensor]], list[Decoded]]


def make_decoder(settings: DecodeSettings, tokenizer: Tokenizer, lm=None) -> Decoder:
    """A function from per-utterance (time, vocab) log-probs to decoded texts with their frame-level paths."""
    if settings.method == "greedy":
        def greedy(emissions: list[torch.Tensor]) -> list[Decoded]:
            paths = [best_path(e) for e in emissions]  # one argmax per utterance: text and word times share it
            return [Decoded(path_text(p, tokenizer), p) for p in paths]

        return greedy
    if settings.method == "beam_lm" and lm is None:
        raise ValueError("decoding method beam_lm needs a language model (--lm)")
    if settings.method == "beam_lm":  # the LSTM LM; the package's n-gram (if any) is for method beam
        settings = replace(settings, ngram=None)
    fused = settings.method == "beam_lm" and settings.fusion
    search = BeamSearch(tokenizer, settings, lm if fused else None)
    if settings.method == "beam" or fused:
        return lambda emissions: [_decoded(search.decode_one(e)[0]) for e in emissions]
    return lambda emissions: [_decoded(h) for h in rescore(lm, tokenizer, [search.decode_one(e) for e in emissions],
                                                            settings.lm_weight, settings.word_bonus)]


def _decoded(h: Hypothesis) -> Decoded:
    return Decoded(h.text, h.path)
