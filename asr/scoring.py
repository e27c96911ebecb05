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


@dataclass(frozen=True)
class BoundaryError:
    utterance: int
    edge: str  # "start": the first word's start vs the speech onset; "end": the last word's end vs the speech end
    error: float  # seconds, hypothesis - reference


def boundary_errors(refs: list[str], bounds: list[tuple[float, float]], words: list) -> list[BoundaryError]:
    """Word timestamps against known utterance boundaries in a recording of several utterances one after another.

    ``refs`` are the utterances' transcripts, ``bounds`` their (speech start, speech end) in seconds, ``words`` the
    recognized words (``.text``, ``.start``, ``.end``) of the whole recording. The hypothesis is aligned to the
    concatenated reference (jiwer); an utterance's first and last words that were recognized correctly give the
    errors of the start and end times.
    """
    ref_words: list[str] = []
    edges: dict[int, list[tuple[int, str]]] = {}  # reference word index -> the utterance edges it marks
    for i, ref in enumerate(refs):
        tokens = ref.split()
        if tokens:
            edges.setdefault(len(ref_words), []).append((i, "start"))
            edges.setdefault(len(ref_words) + len(tokens) - 1, []).append((i, "end"))
            ref_words += tokens
    if not ref_words or not words:
        return []
    out = jiwer.process_words(" ".join(ref_words), " ".join(w.text for w in words))
    errors = []
    for chunk in out.alignments[0]:
        if chunk.type != "equal":
            continue
        for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
            word = words[chunk.hyp_start_idx + k]
            for utt, edge in edges.get(chunk.ref_start_idx + k, []):
                truth = bounds[utt][0] if edge == "start" else bounds[utt][1]
                errors.append(BoundaryError(utt, edge, round((word.start if edge == "start" else word.end) - truth, 4)))
    return errors
