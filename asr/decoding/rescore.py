"""N-best rescoring with the LSTM LM: score = acoustic + lm_weight * LM log-prob + word_bonus * words.

The LM scores every distinct hypothesis of every utterance in one batched pass; choosing weights afterwards is
arithmetic only, which is what makes ``asr tune``'s grid search cheap.
"""

from __future__ import annotations

from asr.decoding.beam import Hypothesis
from asr.lm_data import score_sentences
from asr.models.lm import CharLM
from asr.text import Tokenizer


def lm_scores(lm: CharLM, tokenizer: Tokenizer, nbests: list[list[Hypothesis]]) -> list[list[float]]:
    """LM log-probability of every hypothesis, batched over all utterances."""
    texts = sorted({h.text for nbest in nbests for h in nbest})
    scores = dict(zip(texts, score_sentences(lm, [tokenizer.encode(t, normalize=False) for t in texts])))
    return [[scores[h.text] for h in nbest] for nbest in nbests]


def choose(nbests: list[list[Hypothesis]], lm: list[list[float]], lm_weight: float,
           word_bonus: float) -> list[Hypothesis]:
    """The best hypothesis of each N-best list under acoustic + lm_weight * LM + word_bonus * words."""
    out = []
    for nbest, lm_nbest in zip(nbests, lm):
        totals = [h.acoustic + lm_weight * s + word_bonus * h.words for h, s in zip(nbest, lm_nbest)]
        out.append(nbest[max(range(len(nbest)), key=totals.__getitem__)])
    return out


def rescore(lm: CharLM, tokenizer: Tokenizer, nbests: list[list[Hypothesis]], lm_weight: float,
            word_bonus: float) -> list[Hypothesis]:
    return choose(nbests, lm_scores(lm, tokenizer, nbests), lm_weight, word_bonus)
