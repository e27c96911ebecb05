"""Figures a person would rather look at than read (matplotlib, written as PNG):

    asr plot curves EXP_DIR [-o curves.png]          training / validation loss, dev WER / CER, learning rate
    asr plot alignment MODEL FILE [-o align.png]     waveform, log-mel, CTC posteriors and the words, one time axis
    asr evaluate MODEL DATA --plots                  WER by utterance length and by speaker, the word confusions
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from asr.atomic import atomic_path


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise RuntimeError("plots need matplotlib: pip install matplotlib (or the project's dev extra)") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_metrics(exp_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """(step, value) series of every metric in the run's CSV logs (the newest version when there are several)."""
    files = sorted(Path(exp_dir).glob("csv/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    if not files:
        raise FileNotFoundError(f"{exp_dir}: no csv/version_*/metrics.csv (the training logs of `asr train`)")
    series: dict[str, list[tuple[int, float]]] = {}
    with open(files[-1]) as f:
        for row in csv.DictReader(f):
            step = int(row.get("step") or 0)
            for key, value in row.items():
                if key not in ("step", "epoch") and value not in (None, ""):
                    series.setdefault(key, []).append((step, float(value)))
    return series


def _save(fig, out: str | Path) -> Path:
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return out


def plot_curves(exp_dir: str | Path, out: str | Path) -> Path:
    """Loss (training and validation), dev WER / CER and the learning rate against optimizer steps."""
    plt = _pyplot()
    series = read_metrics(exp_dir)
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    panels = ((axes[0], ("train/loss", "val/loss"), "CTC loss per utterance"),
              (axes[1], ("val/wer", "val/cer"), "dev error rate"),
              (axes[2], ("lr",), "learning rate"))
    for ax, keys, label in panels:
        for key in keys:
            if key in series:
                steps, values = zip(*series[key])
                ax.plot(steps, values, marker="o" if key.startswith("val/") else None, markersize=3, label=key)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc="upper right")
    axes[0].set_yscale("log")
    axes[-1].set_xlabel("optimizer step")
    fig.suptitle(f"training curves: {exp_dir}")
    out = _save(fig, out)
    plt.close(fig)
    return out


def plot_alignment(model_dir: str | Path, audio: str | Path, out: str | Path, top_tokens: int = 8) -> Path:
    """Waveform, log-mel features, the CTC posteriors of the most used tokens, and the recognized words with their
    times, on one time axis (seconds)."""
    import torch

    from asr.audio import SAMPLE_RATE, load_audio
    from asr.transcribe import load_model

    plt = _pyplot()
    recognizer = load_model(model_dir, decode="greedy")
    wave = load_audio(audio)
    feats, _ = recognizer.features([wave])
    emissions = recognizer.emissions([wave])[0]  # (frames, vocab) log-probs
    result = recognizer.transcripts([wave], [str(audio)])[0]
    posteriors = emissions.exp().numpy()
    tokens = recognizer.tokenizer.tokens
    used = [int(t) for t in torch.argsort(torch.as_tensor(posteriors[:, 1:].max(axis=0)), descending=True)[:top_tokens]
            + 1]
    seconds = len(wave) / SAMPLE_RATE
    fig, axes = plt.subplots(4, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [1, 2, 2, 0.6]})
    t = np.arange(len(wave)) / SAMPLE_RATE
    axes[0].plot(t, wave, linewidth=0.4)
    axes[0].set_ylabel("waveform")
    mel = feats[0].numpy().T
    axes[1].imshow(mel, origin="lower", aspect="auto", extent=(0, seconds, 0, mel.shape[0]), cmap="magma")
    axes[1].set_ylabel("log-mel band")
    frame_t = (np.arange(len(posteriors)) + 0.5) * recognizer.frame_seconds
    axes[2].plot(frame_t, posteriors[:, 0], color="lightgray", linewidth=1, label="blank")
    for token in used:
        label = "space" if tokens[token] == " " else tokens[token]
        axes[2].plot(frame_t, posteriors[:, token], linewidth=1, label=label)
    axes[2].set_ylabel("CTC posterior")
    axes[2].legend(loc="upper right", ncol=5, fontsize=7)
    for word in result.words:
        axes[3].axvspan(word.start, word.end, alpha=0.25, color="tab:blue")
        axes[3].text((word.start + word.end) / 2, 0.5, word.text, ha="center", va="center", fontsize=8,
                     rotation=90 if len(word.text) > 6 else 0)
    axes[3].set_yticks([])
    axes[3].set_ylabel("words")
    axes[3].set_xlabel("time (s)")
    axes[3].set_xlim(0, seconds)
    fig.suptitle(f"{Path(audio).name}: {result.text[:100]}")
    out = _save(fig, out)
    plt.close(fig)
    return out


def confusions(refs: list[str], hyps: list[str]) -> list[tuple[str, str, int]]:
    """(reference word, recognized word, count) of the word substitutions, most frequent first."""
    import jiwer

    counts: dict[tuple[str, str], int] = {}
    out = jiwer.process_words(refs, hyps)
    for ref, hyp, chunks in zip(out.references, out.hypotheses, out.alignments):
        for c in chunks:
            if c.type == "substitute":
                for i, j in zip(range(c.ref_start_idx, c.ref_end_idx), range(c.hyp_start_idx, c.hyp_end_idx)):
                    counts[(ref[i], hyp[j])] = counts.get((ref[i], hyp[j]), 0) + 1
    return sorted(((r, h, n) for (r, h), n in counts.items()), key=lambda x: (-x[2], x[0], x[1]))


def plot_evaluation(rows: list[dict], out: str | Path, title: str = "", top: int = 15) -> Path:
    """WER by utterance length and by speaker, and the most frequent word confusions (``rows``: the per-utterance
    results of `asr evaluate`: id, errors, words, ref, hyp)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    words = np.array([r["words"] for r in rows], dtype=float)
    errors = np.array([r["errors"] for r in rows], dtype=float)
    edges = np.unique(np.quantile(words, np.linspace(0, 1, min(6, len(rows)) + 1))) if len(rows) else np.array([0])
    labels, rates = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (words >= lo) & ((words <= hi) if hi == edges[-1] else (words < hi))
        if sel.any():
            labels.append(f"{int(lo)}-{int(hi)}")
            rates.append(100 * errors[sel].sum() / max(words[sel].sum(), 1))
    axes[0].bar(labels, rates)
    axes[0].set_xlabel("reference words per utterance")
    axes[0].set_ylabel("WER %")
    speakers: dict[str, list[float]] = {}
    for r in rows:
        s = speakers.setdefault(str(r["id"]).split("-")[0], [0.0, 0.0])
        s[0] += r["errors"]
        s[1] += r["words"]
    names = sorted(speakers, key=lambda k: -speakers[k][0] / max(speakers[k][1], 1))
    axes[1].barh(names, [100 * speakers[k][0] / max(speakers[k][1], 1) for k in names])
    axes[1].invert_yaxis()
    axes[1].set_xlabel("WER %")
    axes[1].set_ylabel("speaker")
    pairs = confusions([r["ref"] for r in rows], [r["hyp"] for r in rows])[:top]
    axes[2].barh([f"{r} -> {h}" for r, h, _ in pairs], [n for *_, n in pairs], color="tab:red")
    axes[2].invert_yaxis()
    axes[2].set_xlabel("times")
    axes[2].set_title("most frequent substitutions")
    for ax in axes:
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(title)
    fig.tight_layout()
    out = _save(fig, out)
    plt.close(fig)
    return out
