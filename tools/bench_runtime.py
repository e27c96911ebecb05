"""Acoustic-model runtimes on the CPU: PyTorch vs onnxruntime (float) vs onnxruntime with dynamic int8 quantization.

Same waveforms, same features, greedy decoding, one process, the runtimes taking turns (best of ``--repeats``), so
machine noise hits all alike. Prints WER / CER per runtime, int8's WER change relative to float (goal: within 2%
relative), and the time of the acoustic model (features excluded) with its ratio to PyTorch.

    asr export exp/mini/model exp/mini/model --format onnx --quantize int8
    python tools/bench_runtime.py exp/mini/model data/mini/manifests/librispeech_cuts_test-clean-2.jsonl.gz
"""

from __future__ import annotations

import argparse
import time

import torch

from asr.audio import SAMPLE_RATE
from asr.batching import length_batches
from asr.cuts import load_eval_waves
from asr.decoding.greedy import greedy_decode
from asr.package import load_package
from asr.runtime import FILES, OnnxAcousticModel
from asr.scoring import char_errors, word_errors
from asr.transcribe import Recognizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a model package with model.onnx and model.int8.onnx")
    ap.add_argument("data", help="a cuts manifest or LibriSpeech-layout subset")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-seconds", type=float, default=120.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    package = load_package(args.model)
    runtimes = {"torch": None}
    for name in ("onnx", "onnx-int8"):
        runtimes[name] = OnnxAcousticModel(f"{args.model}/{FILES[name]}", package.model, args.threads)
    waves, refs = load_eval_waves(args.data)
    audio = sum(len(w) for w in waves) / SAMPLE_RATE
    recognizers = {name: Recognizer(package, acoustic=acoustic) for name, acoustic in runtimes.items()}

    # features once (they are the same for every runtime): time only the acoustic model
    rec = recognizers["torch"]
    batches = length_batches([len(w) for w in waves], args.batch_seconds * SAMPLE_RATE)
    feats = [(b, *rec.features([waves[i] for i in b])) for b in batches]

    results = {}
    for _ in range(args.repeats):
        for name, r in recognizers.items():
            hyps, start = [""] * len(waves), time.perf_counter()
            with torch.inference_mode():
                outs = [(b, r.model(f, n)) for b, f, n in feats]
            elapsed = time.perf_counter() - start
            for b, out in outs:
                for i, text in zip(b, greedy_decode(out.log_probs, out.lengths, rec.tokenizer)):
                    hyps[i] = text
            best = min(elapsed, results.get(name, (None, float("inf")))[1])
            results[name] = (hyps, best)
    print(f"{len(waves)} utterances, {audio / 60:.1f} min, {args.threads} threads, best of {args.repeats}")
    print(f"{'runtime':10s} {'WER %':>7s} {'CER %':>7s} {'model s':>8s} {'x real time':>12s} {'vs torch':>9s}")
    wer = {}
    for name, (hyps, seconds) in results.items():
        wer[name] = word_errors(refs, hyps).rate
        print(f"{name:10s} {100 * wer[name]:7.2f} {100 * char_errors(refs, hyps).rate:7.2f} {seconds:8.3f} "
              f"{audio / seconds:12.0f} {results['torch'][1] / seconds:8.2f}x")
    change = (wer["onnx-int8"] - wer["onnx"]) / max(wer["onnx"], 1e-9)
    print(f"int8 vs float WER: {100 * change:+.2f}% relative (goal: within 2%)")


if __name__ == "__main__":
    main()
