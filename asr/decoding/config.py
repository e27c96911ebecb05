"""The decoding configuration: one dataclass, one name per idea, stored in a model package's config.yaml."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar

METHODS = ("greedy", "beam", "beam_lm")


@dataclass(frozen=True)
class DecodeSettings:
    """The one decoding configuration (stored in a model package's config.yaml under ``decode``)."""

    method: str = "greedy"  # greedy | beam | beam_lm (beam + the LSTM LM)
    beam_size: int = 16
    beam_size_token: int = 8  # the most likely tokens considered per frame (same WER as all 29 on mini, 5x faster)
    beam_threshold: float = 25.0  # hypotheses this far below the best are pruned
    nbest: int = 16  # beam_lm by N-best rescoring: the hypotheses rescored
    lm_weight: float = 0.5  # the LSTM LM's weight (beam_lm: inside the beam with ``fusion``, else in rescoring)
    word_bonus: float = 0.0  # added per word with the LSTM LM (negative: a word penalty)
    beam_word_bonus: float = 0.0  # added per word by beam search without an LM (method beam, no n-gram): with a
    # lexicon, a penalty keeps short listed words from filling the gaps (tuned by `asr tune`)
    fusion: bool = False  # beam_lm: the LSTM LM inside the beam (shallow fusion) instead of N-best rescoring
    ngram: str | None = None  # a KenLM n-gram inside the beam (method beam; a word n-gram needs the lexicon)
    ngram_weight: float = 0.0
    ngram_word_bonus: float = 0.0  # added per word with the n-gram
    lexicon: str | None = None  # a word list: the beam emits only its words (beam and beam_lm; see lexicon.py)

    # names used before, by packages tuned with earlier versions: read, never written
    LEGACY: ClassVar[dict[str, str]] = {"alpha": "lm_weight", "beta": "word_bonus"}

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown decoding method {self.method!r}: choose {', '.join(METHODS)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "DecodeSettings":
        d = dict(d or {})
        for old, new in cls.LEGACY.items():
            if old in d:
                value = d.pop(old)
                if new not in d or (old == "beta" and d.get("method") == "beam_lm"):
                    d[new] = value
        if d.get("ngram") and "ngram_word_bonus" not in d:  # tuned before the n-gram had its own word bonus
            d["ngram_word_bonus"] = d.get("word_bonus", 0.0)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def with_method(self, method: str) -> "DecodeSettings":
        return replace(self, method=method)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def search_nbest(self) -> int:
        """Hypotheses the beam returns: the N-best list only when it will be rescored."""
        return self.nbest if self.method == "beam_lm" and not self.fusion else 1
