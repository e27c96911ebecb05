"""N-best rescoring with the LSTM LM: score = acoustic + alpha * LM log-prob + beta * words.

The LM scores every distinct hypothesis of every utterance in one batched pass; choosing weights afterwards is
arithmetic only, which is what makes ``asr tune``'s grid search cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from asr.decoding.beam import Hypothesis
from asr.lm_data import score_sentences
from asr.models.lm import CharLM
from asr.text import Tokenizer


@dataclass(frozen=True)
class RescoreWeights:
    alpha: float = 0.5  # LM weight
    beta: float = 0.0  # per-word bonus


def lm_scores(lm: CharLM, tokenizer: Tokenizer, nbests: list[list[Hypothesis]]) -> list[list[float]]:
    """LM log-probability of every hypothesis, batched over all utterances."""
    texts = sorted({h.text for nbest in nbests for h in nbest})
    scores = dict(zip(texts, score_sentences(lm, [tokenizer.encode(t, normalize=False) for t in texts])))
    return [[scores[h.text] for h in nbest] for nbest in nbests]


def choose(nbests: list[list[Hypothesis]], lm: list[list[float]], weights: RescoreWeights) -> list[Hypothesis]:
    """The best hypothesis of each N-best list under acoustic + alpha * LM + beta * words."""
    out = []
    for nbest, lm_nbest in zip(nbests, lm):
        totals = [h.acoustic + weights.alpha * s + weights.beta * h.words for h, s in zip(nbest, lm_nbest)]
        out.append(nbest[max(range(len(nbest)), key=totals.__getitem__)])
    return out


def pick_best(nbests: list[list[Hypothesis]], lm: list[list[float]], weights: RescoreWeights) -> list[str]:
    return [h.text for h in choose(nbests, lm, weights)]


def rescore(lm: CharLM, tokenizer: Tokenizer, nbests: list[list[Hypothesis]],
            weights: RescoreWeights) -> list[Hypothesis]:
    return choose(nbests, lm_scores(lm, tokenizer, nbests), weights)
