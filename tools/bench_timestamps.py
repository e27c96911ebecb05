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

from asr.audio import SAMPLE_RATE
from asr.boundaries import boundary_errors, join
from asr.cuts import load_eval_waves
from asr.scoring import word_errors
from asr.transcribe import load_model


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
    for e in sorted(errors, key=lambda e: -abs(e.error)):
        if abs(e.error) > 0.1:
            word = refs[e.utterance].split()[0 if e.edge == "start" else -1]
            print(f"  off by {e.error:+.3f} s: {e.edge} of utterance {chosen[e.utterance]} ({word})")
    joined_ref = " ".join(refs)
    print(f"WER whole recording {100 * word_errors([joined_ref], [whole.text]).rate:.2f}% vs one by one "
          f"{100 * word_errors(refs, single).rate:.2f}% ({len(joined_ref.split())} words)")


if __name__ == "__main__":
    main()
