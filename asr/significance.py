"""How sure a WER is, and whether one system beats another on the same utterances: bootstrap resampling of
utterances (Bisani & Ney, "Bootstrap estimates for confidence intervals in ASR performance evaluation", ICASSP 2004).

A small dev set (dev-real: 32 utterances, 511 words) moves by several points between two runs of the same recipe;
``wer_interval`` says how far, and ``paired_bootstrap`` compares two systems utterance by utterance (the same
resampled utterances for both), which sees differences the two intervals side by side hide.

    asr compare exp/a/eval/dev-real.greedy.per_utt.tsv exp/b/eval/dev-real.greedy.per_utt.tsv

compares both word and character error rates: the characters are aligned again from each file's reference and
hypothesis with jiwer, as `asr evaluate` scores them, so the CER's sum over utterances is its CER.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from asr.scoring import char_errors

_CHUNK = 1000  # bootstrap samples drawn at a time (a 2,620-utterance test set: 21 MB of indices a chunk)


def _samples(n: int, samples: int, seed: int) -> Iterator[np.ndarray]:
    """``samples`` resamplings of ``n`` utterances with replacement, as index arrays of shape (chunk, n)."""
    rng = np.random.default_rng(seed)
    for start in range(0, samples, _CHUNK):
        yield rng.integers(0, n, size=(min(_CHUNK, samples - start), n))


def _check(errors: Sequence[int], words: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    e, w = np.asarray(errors, dtype=np.float64), np.asarray(words, dtype=np.float64)
    if len(e) == 0 or len(e) != len(w):
        raise ValueError(f"bootstrap needs one error count and one word count per utterance (got {len(e)} and "
                         f"{len(w)})")
    return e, w


def wer_interval(errors: Sequence[int], words: Sequence[int], level: float = 0.95, samples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """The ``level`` percentile interval of the WER over utterances resampled with replacement."""
    e, w = _check(errors, words)
    rates = np.concatenate([e[i].sum(1) / np.maximum(w[i].sum(1), 1) for i in _samples(len(e), samples, seed)])
    tail = (1 - level) / 2
    return float(np.quantile(rates, tail)), float(np.quantile(rates, 1 - tail))


@dataclass(frozen=True)
class Comparison:
    rate_a: float  # error rate (WER, or CER where `unit` is "CER")
    rate_b: float
    low: float  # the interval of rate(B) - rate(A)
    high: float
    prob_b_better: float  # the share of resamplings in which B makes fewer errors than A
    utterances: int
    words: int  # reference units: words, or characters for the CER
    unit: str = "WER"

    @property
    def delta(self) -> float:
        return self.rate_b - self.rate_a


def paired_bootstrap(errors_a: Sequence[int], errors_b: Sequence[int], words: Sequence[int], level: float = 0.95,
                     samples: int = 10000, seed: int = 0) -> Comparison:
    """Two systems' errors on the same utterances (same order): the interval of their WER difference and the
    probability that B is better (Bisani & Ney's "probability of improvement")."""
    a, w = _check(errors_a, words)
    b, _ = _check(errors_b, words)
    if len(a) != len(b):
        raise ValueError(f"the two systems scored {len(a)} and {len(b)} utterances")
    deltas = np.concatenate([(b[i].sum(1) - a[i].sum(1)) / np.maximum(w[i].sum(1), 1)
                             for i in _samples(len(a), samples, seed)])
    tail = (1 - level) / 2
    total = max(w.sum(), 1)
    return Comparison(float(a.sum() / total), float(b.sum() / total), float(np.quantile(deltas, tail)),
                      float(np.quantile(deltas, 1 - tail)), float(np.mean(deltas < 0)), len(a), int(w.sum()))


class Utterance(NamedTuple):
    errors: int  # word errors
    words: int  # reference words
    ref: str
    hyp: str


def read_per_utterance(path: str | Path) -> dict[str, Utterance]:
    """An `asr evaluate` per-utterance file (``*.per_utt.tsv``): id -> its word errors, words, reference and
    hypothesis."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t")[:3] != ["id", "errors", "words"]:
        raise ValueError(f"{path}: not an `asr evaluate` per-utterance file (id, errors, words, wer, ref, hyp)")
    rows = {}
    for n, line in enumerate(lines[1:], 2):
        fields = line.split("\t")
        try:
            rows[fields[0]] = Utterance(int(fields[1]), int(fields[2]), fields[4], fields[5])
        except (IndexError, ValueError) as e:
            raise ValueError(f"{path}, line {n}: cannot read it ({e})") from e
    return rows


def read_pair(a: str | Path, b: str | Path) -> tuple[list[Utterance], list[Utterance]]:
    """Two per-utterance files' rows, in the same utterance order; they must score the same utterances against the
    same references."""
    rows_a, rows_b = read_per_utterance(a), read_per_utterance(b)
    if rows_a.keys() != rows_b.keys():
        only_a, only_b = sorted(rows_a.keys() - rows_b.keys()), sorted(rows_b.keys() - rows_a.keys())
        raise ValueError(f"{a} and {b} score different utterances ({len(only_a)} only in the first, e.g. "
                         f"{only_a[:3]}; {len(only_b)} only in the second, e.g. {only_b[:3]})")
    ids = sorted(rows_a)
    differ = [u for u in ids if rows_a[u].ref != rows_b[u].ref]
    if differ:
        raise ValueError(f"{a} and {b} have different references for {len(differ)} utterances, e.g. {differ[0]}")
    return [rows_a[u] for u in ids], [rows_b[u] for u in ids]


def compare_rows(rows_a: Sequence[Utterance], rows_b: Sequence[Utterance], samples: int = 10000, seed: int = 0,
                 characters: bool = False) -> Comparison:
    """``paired_bootstrap`` of :func:`read_pair`'s rows: of their word errors, or with ``characters`` of their
    character errors (each hypothesis aligned again as `asr evaluate` scores it; the same utterances resampled with
    the same seed)."""
    if not characters:
        return paired_bootstrap([r.errors for r in rows_a], [r.errors for r in rows_b], [r.words for r in rows_a],
                                samples=samples, seed=seed)
    counts_a = [char_errors([r.ref], [r.hyp]) for r in rows_a]
    counts_b = [char_errors([r.ref], [r.hyp]) for r in rows_b]
    c = paired_bootstrap([n.errors for n in counts_a], [n.errors for n in counts_b],
                         [n.reference_length for n in counts_a], samples=samples, seed=seed)
    return Comparison(c.rate_a, c.rate_b, c.low, c.high, c.prob_b_better, c.utterances, c.words, unit="CER")


def compare_files(a: str | Path, b: str | Path, samples: int = 10000, seed: int = 0,
                  characters: bool = False) -> Comparison:
    """:func:`compare_rows` of two per-utterance files (:func:`read_pair`)."""
    return compare_rows(*read_pair(a, b), samples=samples, seed=seed, characters=characters)


def report_comparison(a: str | Path, b: str | Path, c: Comparison) -> str:
    units = "words" if c.unit == "WER" else "characters"
    return (f"A: {a}  {c.unit} {100 * c.rate_a:.2f}%\nB: {b}  {c.unit} {100 * c.rate_b:.2f}%\n"
            f"B - A: {100 * c.delta:+.2f} points, 95% interval {100 * c.low:+.2f} .. {100 * c.high:+.2f} "
            f"(paired bootstrap over {c.utterances} utterances, {c.words} {units}); B better in "
            f"{100 * c.prob_b_better:.1f}% of the resamplings")
