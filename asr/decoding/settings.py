"""Decoding settings (greedy, beam, beam + LSTM LM rescoring) and the decoder they build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch

from asr.decoding.ctc import best_path, path_text
from asr.decoding.beam import BeamConfig, BeamSearch, Hypothesis
from asr.decoding.rescore import RescoreWeights, rescore
from asr.text import Tokenizer

METHODS = ("greedy", "beam", "beam_lm")


@dataclass(frozen=True)
class DecodeSettings:
    method: str = "greedy"
    beam_size: int = 16
    beam_threshold: float = 25.0
    nbest: int = 16
    alpha: float = 0.5  # LSTM LM weight (beam_lm)
    beta: float = 0.0  # word bonus (beam_lm)
    fusion: bool = False  # beam_lm: the LSTM LM inside the beam (shallow fusion) instead of N-best rescoring
    ngram: str | None = None  # optional KenLM file used inside the beam
    ngram_weight: float = 0.0
    word_bonus: float = 0.0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown decoding method {self.method!r}: choose {', '.join(METHODS)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "DecodeSettings":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in known})

    def with_method(self, method: str) -> "DecodeSettings":
        return replace(self, method=method)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def beam_config(self) -> BeamConfig:
        if self.method == "beam_lm" and self.fusion:
            return BeamConfig(beam_size=self.beam_size, beam_threshold=self.beam_threshold, nbest=1,
                              lm_weight=self.alpha, word_bonus=self.beta)
        return BeamConfig(beam_size=self.beam_size, beam_threshold=self.beam_threshold,
                          nbest=self.nbest if self.method == "beam_lm" else 1, ngram=self.ngram,
                          ngram_weight=self.ngram_weight, word_bonus=self.word_bonus)


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
    fused = settings.method == "beam_lm" and settings.fusion
    search = BeamSearch(tokenizer, settings.beam_config(), lm if fused else None)
    if settings.method == "beam" or fused:
        return lambda emissions: [_decoded(search.decode_one(e)[0]) for e in emissions]
    weights = RescoreWeights(settings.alpha, settings.beta)
    return lambda emissions: [_decoded(h) for h in rescore(lm, tokenizer, [search.decode_one(e) for e in emissions],
                                                            weights)]


def _decoded(h: Hypothesis) -> Decoded:
    return Decoded(h.text, h.path)
