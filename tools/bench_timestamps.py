"""Word timestamps and long-audio words against known boundaries: utterances of a test set, one after another.

N utterances are joined with random silences into one recording; each utterance's speech start and end in it are
known from its own waveform (first and last sample above 2% of its peak). The recording is transcribed as a whole
(overlapping windows, as `asr transcribe` does for any long file), and

* the first word's start and the last word's end of every utterance whose first / last word was recognized are
  compared with the known speech start / end (goal: within 0.1 s);
* the WER of the whole recording is compared with the WER of the same utterances transcribed one by one (windowing
  must lose no words: the two should be equal up to the words at the joins).

    python tools/bench_timestamps.py exp/mini/model data/mini/manifests/librispeech_cuts_test-clean-2.jsonl.gz
"""

from __future__ import annotations

import argparse
import random
import statistics
from dataclasses import dataclass

import jiwer
import numpy as np

from asr.audio import SAMPLE_RATE
from asr.evaluate import load_eval_waves
from asr.scoring import word_errors
from asr.transcribe import load_model


def speech_bounds(wave: np.ndarray, threshold: float = 0.02) -> tuple[int, int]:
    """First and one-past-last sample above ``threshold`` times the peak."""
    loud = np.flatnonzero(np.abs(wave) >= threshold * np.abs(wave).max())
    return int(loud[0]), int(loud[-1]) + 1


def join(waves: list[np.ndarray], rng: random.Random, gap: tuple[float, float]
         ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    pieces, bounds, pos = [], [], 0
    for wave in waves:
        silence = np.zeros(int(rng.uniform(*gap) * SAMPLE_RATE), np.float32)
        pieces += [silence, wave]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a model package")
    ap.add_argument("data", help="a cuts manifest or LibriSpeech-layout subset")
    ap.add_argument("--utterances", type=int, default=64)
    ap.add_argument("--gap", type=float, nargs=2, default=(0.3, 1.0), help="silence between utterances (s)")
    ap.add_argument("--decode", default="greedy", choices=["greedy", "beam"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    recognizer = load_model(args.model, decode=args.decode)
    waves, refs = load_eval_waves(args.data)
    rng = random.Random(args.seed)
    chosen = sorted(rng.sample(range(len(waves)), min(args.utterances, len(waves))))
    waves, refs = [waves[i] for i in chosen], [refs[i] for i in chosen]
    recording, bounds = join(waves, rng, tuple(args.gap))
    whole = recognizer.transcribe(recording, sample_rate=SAMPLE_RATE)
    single = [t.text for t in recognizer.transcribe(waves, sample_rate=SAMPLE_RATE)]

    errors = boundary_errors(refs, bounds, whole.words)
    print(f"{len(waves)} utterances joined: {len(recording) / SAMPLE_RATE / 60:.1f} min, windows of "
          f"{recognizer.windows.window:g} s with {recognizer.windows.overlap:g} s overlap")
    for edge in ("start", "end"):
        errs = [e.error for e in errors if e.edge == edge]
        if not errs:
            print(f"{edge}: no correctly recognized {'first' if edge == 'start' else 'last'} word")
            continue
        within = sum(abs(e) <= 0.1 for e in errs) / len(errs)
        mean = statistics.fmean(map(abs, errs))
        print(f"{edge:5s} of utterance vs word: {len(errs)} words, mean |error| {mean:.3f} s, "
              f"median error {statistics.median(errs):+.3f} s, within 0.1 s: {100 * within:.1f}%")
    joined_ref = " ".join(refs)
    print(f"WER whole recording {100 * word_errors([joined_ref], [whole.text]).rate:.2f}% vs one by one "
          f"{100 * word_errors(refs, single).rate:.2f}% ({len(joined_ref.split())} words)")


if __name__ == "__main__":
    main()
