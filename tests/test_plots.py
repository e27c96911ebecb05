"""`asr plot`: the PNGs exist, are images, and are not blank."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ASR = [sys.executable, "-m", "asr.cli"]
SMALL = Path(__file__).parent / "data" / "small_model"


def not_blank(png: Path) -> bool:
    import matplotlib.image

    image = matplotlib.image.imread(png)
    return image.ndim == 3 and image.shape[0] > 200 and float(image[..., :3].std()) > 0.05


def test_curves_from_the_csv_logs(tmp_path):
    logs = tmp_path / "exp" / "csv" / "version_0"
    logs.mkdir(parents=True)
    rows = ["epoch,lr,step,train/loss,val/cer,val/loss,val/wer"]
    for step in range(1, 200):
        rows.append(f"{step // 50},{0.002 * min(1, step / 20)},{step},{300 / step ** 0.5},,,")
        if step % 50 == 49:
            rows.append(f"{step // 50},,{step},,{0.5 / (1 + step / 50)},{80 / step ** 0.3},{0.9 / (1 + step / 80)}")
    (logs / "metrics.csv").write_text("\n".join(rows) + "\n")
    out = subprocess.run([*ASR, "plot", "curves", str(tmp_path / "exp")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert not_blank(tmp_path / "exp" / "curves.png")
    missing = subprocess.run([*ASR, "plot", "curves", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "metrics.csv" in missing.stderr


def test_alignment_of_a_recording(tiny_corpus, tmp_path):
    audio = sorted((tiny_corpus / "LibriSpeech" / "dev-clean-2").rglob("*.flac"))[0]
    png = tmp_path / "align.png"
    out = subprocess.run([*ASR, "plot", "alignment", str(SMALL), str(audio), "-o", str(png)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert not_blank(png)
    image = np.asarray(__import__("matplotlib.image").image.imread(png))
    assert image.shape[1] > image.shape[0]  # one time axis, wide


def test_evaluate_plots_and_confusions(tiny_corpus, tmp_path):
    from asr.plots import confusions

    assert confusions(["THE CAT SAT", "A CAT"], ["THE KAT SAT", "A KAT"]) == [("CAT", "KAT", 2)]
    out = subprocess.run([*ASR, "evaluate", str(SMALL), str(tiny_corpus / "LibriSpeech" / "test-clean-2"),
                          "--output-dir", str(tmp_path), "--plots"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert not_blank(tmp_path / "test-clean-2.greedy.png")
