"""Streaming against whole-input recognition, on the same files, in one run.

    python tools/bench_streaming.py exp/mini/stream/model exp/mini/model \
        data/mini/manifests/librispeech_cuts_test-clean-2.jsonl.gz [--chunk-ms 160] [--long-minutes 60]

Each file is fed to the streaming model in ``--chunk-ms`` pieces as a live source would deliver them (piece k
exists at (k + 1) x chunk; its processing starts then, or when the previous piece's ends). Reported side by side with
the bidirectional model's greedy decoding of the whole file:
- WER / CER (greedy, both);
- latency of each final word: the moment it is announced final minus the end of the word in the audio. The word's
  end comes from the bidirectional model's alignment of the same file (its own word times; words matched by
  position in the alignment of the two hypotheses, equal words only), median and p95; also against the streaming
  model's own end time of the word;
- the real-time factor of streaming (processing seconds per audio second);
- partial churn: of the words shown in partial results, the share whose text at that position changed later;
- memory: peak RSS after ``--long-minutes`` of audio streamed through one recognizer (the test files on a loop,
  with a second of silence between them), against the RSS after the first minute: constant means it does not grow.
"""

from __future__ import annotations

import argparse
import difflib
import json
import statistics
import time

import numpy as np
import torch

from asr.cuts import load_eval_waves
from asr.package import load_package
from asr.scoring import char_errors, word_errors
from asr.streaming import StreamingRecognizer
from asr.transcribe import load_model


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def stream_one(package, wave: np.ndarray, chunk: int):
    """-> (final words with their announce time, processing seconds, churn counts)."""
    stream = StreamingRecognizer(package)
    clock, busy, announced, shown, changed = 0.0, 0.0, [], {}, set()
    pieces = [wave[i:i + chunk] for i in range(0, len(wave), chunk)]
    for k, piece in enumerate(pieces + [None]):
        arrives = (k + 1) * chunk / 16000 if piece is not None else len(wave) / 16000
        start = time.perf_counter()
        update = stream.accept(piece) if piece is not None else stream.finish()
        took = time.perf_counter() - start
        busy += took
        clock = max(clock, arrives) + took  # when this piece's results are out
        announced += [(w, clock) for w in update.final]
        for i, word in enumerate(update.partial.split()):
            if i in shown and shown[i] != word:
                changed.add(i)
            shown[i] = word
    return stream.transcript(), announced, busy, len(shown), len(changed)


def latencies(announced, reference_words) -> list[float]:
    """Announce time minus the matching reference word's end, for words equal in both (aligned by position)."""
    hyp = [w.text for w, _ in announced]
    ref = [w.text for w in reference_words]
    out = []
    for tag, i1, i2, j1, _ in difflib.SequenceMatcher(a=hyp, b=ref, autojunk=False).get_opcodes():
        if tag == "equal":
            out += [announced[i][1] - reference_words[j1 + i - i1].end for i in range(i1, i2)]
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stream_model")
    ap.add_argument("bidirectional_model")
    ap.add_argument("data", help="a cuts manifest or LibriSpeech-layout subset")
    ap.add_argument("--chunk-ms", type=float, default=160.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--long-minutes", type=float, default=60.0, help="0 skips the memory run")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    waves, refs = load_eval_waves(args.data)
    chunk = int(args.chunk_ms * 16)
    package = load_package(args.stream_model)
    bidir = load_model(args.bidirectional_model, decode="greedy")
    names = [str(i) for i in range(len(waves))]
    offline = bidir.transcripts(waves, names)
    stream_offline = load_model(args.stream_model, decode="greedy").transcripts(waves, names)

    hyps, lat_bidir, lat_own, busy, shown, changed, same = [], [], [], 0.0, 0, 0, 0
    for wave, off, own in zip(waves, offline, stream_offline):
        result, announced, took, s, c = stream_one(package, wave, chunk)
        hyps.append(result.text)
        same += result.text == own.text
        lat_bidir += latencies(announced, off.words)
        lat_own += latencies(announced, result.words)
        busy, shown, changed = busy + took, shown + s, changed + c
    audio = sum(len(w) for w in waves) / 16000
    wer_s, cer_s = word_errors(refs, hyps).rate, char_errors(refs, hyps).rate
    wer_b, cer_b = (word_errors(refs, [t.text for t in offline]).rate,
                    char_errors(refs, [t.text for t in offline]).rate)
    figures = {
        "files": len(waves), "audio_seconds": round(audio, 1), "chunk_ms": args.chunk_ms,
        "bidirectional": {"wer": wer_b, "cer": cer_b},
        "streaming": {"wer": wer_s, "cer": cer_s, "rtf": busy / audio,
                      "latency_median": statistics.median(lat_bidir) if lat_bidir else float("nan"),
                      "latency_p95": pct(lat_bidir, 95), "matched_words": len(lat_bidir),
                      "latency_own_median": statistics.median(lat_own) if lat_own else float("nan"),
                      "latency_own_p95": pct(lat_own, 95),
                      "churn": changed / max(1, shown), "same_as_offline": same},
        "wer_relative_to_bidirectional": wer_s / wer_b - 1 if wer_b else None,
    }
    print(f"{len(waves)} files, {audio / 60:.1f} min, {args.chunk_ms:g} ms pieces, {args.threads} threads")
    print(f"bidirectional (whole input, greedy): WER {100 * wer_b:.1f}  CER {100 * cer_b:.1f}")
    print(f"streaming (greedy):                  WER {100 * wer_s:.1f}  CER {100 * cer_s:.1f}  "
          f"({100 * figures['wer_relative_to_bidirectional']:+.0f}% relative WER)")
    print(f"final-word latency vs the bidirectional alignment: median {figures['streaming']['latency_median']:.3f} s, "
          f"p95 {figures['streaming']['latency_p95']:.3f} s ({len(lat_bidir)} matched words); vs its own word ends: "
          f"median {figures['streaming']['latency_own_median']:.3f} s, "
          f"p95 {figures['streaming']['latency_own_p95']:.3f} s")
    print(f"real-time factor {busy / audio:.4f}; partial churn {100 * figures['streaming']['churn']:.1f}% of shown "
          f"words; streamed text == offline text of the same model: {same}/{len(waves)}")

    if args.long_minutes > 0:
        stream = StreamingRecognizer(package)
        silence = np.zeros(16000, np.float32)
        fed, marks, i, start = 0, {}, 0, time.perf_counter()
        target = int(args.long_minutes * 60 * 16000)
        while fed < target:
            for piece_source in (waves[i % len(waves)], silence):
                for j in range(0, len(piece_source), chunk):
                    stream.accept(piece_source[j:j + chunk])
                fed += len(piece_source)
            i += 1
            minute = fed // (60 * 16000)
            if minute in (1, 10) or fed >= target:
                marks.setdefault(int(minute), rss_mb())
        stream.finish()
        took = time.perf_counter() - start
        figures["memory"] = {"rss_mb_by_minute": marks, "words": len(stream.words), "seconds": round(took, 1)}
        first, last = marks[min(marks)], marks[max(marks)]
        print(f"memory: RSS {first:.0f} MB after {min(marks)} min of stream, {last:.0f} MB after {max(marks)} min "
              f"({last - first:+.0f} MB); {len(stream.words)} words kept as the transcript; {took:.0f} s to run")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
