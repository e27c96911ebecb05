"""Word and character error rates with jiwer, as summable counts (so they aggregate over batches and ranks)."""

from __future__ import annotations

from dataclasses import dataclass

import jiwer


@dataclass
class ErrorCounts:
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_length: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        return self.errors / max(self.reference_length, 1)

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(self.substitutions + other.substitutions, self.deletions + other.deletions,
                           self.insertions + other.insertions, self.reference_length + other.reference_length)


def _counts(out: jiwer.WordOutput | jiwer.CharacterOutput) -> ErrorCounts:
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, out.hits + out.substitutions + out.deletions)


def _errors(refs: list[str], hyps: list[str], process, unit_count) -> ErrorCounts:
    """jiwer counts over the pairs with a reference; an empty reference counts its hypothesis as insertions."""
    pairs = list(zip(refs, hyps, strict=True))
    scored = [(r, h) for r, h in pairs if r.strip()]
    total = _counts(process([r for r, _ in scored], [h for _, h in scored])) if scored else ErrorCounts()
    return total + ErrorCounts(insertions=sum(unit_count(h) for r, h in pairs if not r.strip()))


def word_errors(refs: list[str], hyps: list[str]) -> ErrorCounts:
    return _errors(refs, hyps, jiwer.process_words, lambda h: len(h.split()))


def char_errors(refs: list[str], hyps: list[str]) -> ErrorCounts:
    return _errors(refs, hyps, jiwer.process_characters, len)
