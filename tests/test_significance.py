"""Bootstrap intervals for WER and the paired comparison of two systems (`asr compare`)."""

import subprocess
import sys

import numpy as np
import pytest

from asr.significance import compare_files, paired_bootstrap, read_per_utterance, wer_interval


def _per_utt(path, rows):
    """rows: (id, errors, words, ref)"""
    path.write_text("id\terrors\twords\twer\tref\thyp\n" + "".join(
        f"{u}\t{e}\t{w}\t{e / max(w, 1):.4f}\t{ref}\tHYP\n" for u, e, w, ref in rows))
    return path


def test_wer_interval_holds_the_wer_and_narrows_with_more_utterances():
    rng = np.random.default_rng(1)
    words = rng.integers(5, 30, 400)
    errors = rng.binomial(words, 0.3)
    wer = errors.sum() / words.sum()
    low, high = wer_interval(errors, words)
    assert low < wer < high and 0 < high - low < 0.1
    small_low, small_high = wer_interval(errors[:25], words[:25])
    assert small_high - small_low > 2 * (high - low)  # 16x fewer utterances: ~4x wider
    assert wer_interval([2, 2, 2], [10, 10, 10]) == pytest.approx((0.2, 0.2))  # nothing varies
    with pytest.raises(ValueError, match="one error count"):
        wer_interval([], [])


def test_paired_bootstrap_sees_a_consistent_gain_that_the_intervals_overlap_on():
    rng = np.random.default_rng(2)
    words = rng.integers(5, 30, 60)
    a = rng.binomial(words, 0.5)
    b = np.maximum(a - 1, 0)  # B: one error fewer on (almost) every utterance
    c = paired_bootstrap(a, b, words)
    assert c.wer_b < c.wer_a and c.high < 0 and c.prob_b_better == 1.0
    low_a, high_a = wer_interval(a, words)
    low_b, high_b = wer_interval(b, words)
    assert high_b > low_a  # side by side, their intervals overlap: only the paired test sees the gain
    same = paired_bootstrap(a, a, words)
    assert (same.low, same.high, same.prob_b_better, same.delta) == (0, 0, 0, 0)
    worse = paired_bootstrap(b, a, words)
    assert worse.low > 0 and worse.prob_b_better == 0.0


def test_compare_files_and_the_command(tmp_path):
    a = _per_utt(tmp_path / "a.tsv", [("u1", 3, 10, "A B"), ("u2", 1, 5, "C"), ("u3", 4, 8, "D E")])
    b = _per_utt(tmp_path / "b.tsv", [("u3", 2, 8, "D E"), ("u1", 1, 10, "A B"), ("u2", 0, 5, "C")])  # any order
    c = compare_files(a, b)
    assert (c.utterances, c.words) == (3, 23)
    assert c.wer_a == pytest.approx(8 / 23) and c.wer_b == pytest.approx(3 / 23) and c.prob_b_better == 1.0
    assert read_per_utterance(a)["u3"] == (4, 8, "D E")
    out = subprocess.run([sys.executable, "-m", "asr.cli", "compare", str(a), str(b), "--samples", "500"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "B - A: -21.74 points" in out.stdout and "B better in 100.0% of the resamplings" in out.stdout

    other = _per_utt(tmp_path / "other.tsv", [("u1", 3, 10, "A B"), ("u9", 1, 5, "C"), ("u3", 4, 8, "D E")])
    with pytest.raises(ValueError, match="score different utterances.*u2.*u9"):
        compare_files(a, other)
    reworded = _per_utt(tmp_path / "reworded.tsv", [("u1", 3, 10, "A B"), ("u2", 1, 5, "X"), ("u3", 4, 8, "D E")])
    with pytest.raises(ValueError, match="different references for 1 utterances, e.g. u2"):
        compare_files(a, reworded)
    (tmp_path / "junk.tsv").write_text("hello\n")
    out = subprocess.run([sys.executable, "-m", "asr.cli", "compare", str(a), str(tmp_path / "junk.tsv")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "junk.tsv: not an `asr evaluate` per-utterance file" in out.stderr
