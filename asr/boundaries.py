"""Word timestamps against known boundaries: utterances joined with silences into one recording, and the errors of
the recognized words' times at the utterances' edges. Used by the timestamp test and ``tools/bench_timestamps.py``."""

from __future__ import annotations

import random
from dataclasses import dataclass

import jiwer
import numpy as np

from asr.audio import SAMPLE_RATE


def speech_bounds(wave: np.ndarray, threshold: float = 0.02) -> tuple[int, int]:
    """First and one-past-last sample above ``threshold`` times the peak."""
    loud = np.flatnonzero(np.abs(wave) >= threshold * np.abs(wave).max())
    return int(loud[0]), int(loud[-1]) + 1


def join(waves: list[np.ndarray], rng: random.Random, gap: tuple[float, float]
         ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """One recording: each wave preceded by a random silence of ``gap`` seconds; returns it and every wave's
    (speech start, speech end) in it, in seconds."""
    pieces, bounds, pos = [], [], 0
    for wave in waves:
        silence = np.zeros(int(rng.uniform(*gap) * SAMPLE_RATE), np.float32)
        pieces += [silence, wave.astype(np.float32)]
        pos += len(silence)
        start, end = speech_bounds(wave)
        bounds.append(((pos + start) / SAMPLE_RATE, (pos + end) / SAMPLE_RATE))
        pos += len(wave)
    return np.concatenate(pieces), bounds


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
