"""Bootstrap intervals for WER and the paired comparison of two systems (`asr compare`)."""

import subprocess
import sys

import numpy as np
import pytest

from asr.significance import compare_files, paired_bootstrap, read_per_utterance, wer_interval


def _per_utt(path, rows):
    """rows: (id, errors, words, ref) or (id, errors, words, ref, hyp)"""
    path.write_text("id\terrors\twords\twer\tref\thyp\n" + "".join(
        f"{r[0]}\t{r[1]}\t{r[2]}\t{r[1] / max(r[2], 1):.4f}\t{r[3]}\t{r[4] if len(r) > 4 else 'HYP'}\n"
        for r in rows))
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
    assert c.rate_b < c.rate_a and c.high < 0 and c.prob_b_better == 1.0
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
    assert c.rate_a == pytest.approx(8 / 23) and c.rate_b == pytest.approx(3 / 23) and c.prob_b_better == 1.0
    assert c.unit == "WER" and read_per_utterance(a)["u3"] == (4, 8, "D E", "HYP")
    out = subprocess.run([sys.executable, "-m", "asr.cli", "compare", str(a), str(b), "--samples", "500"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "B - A: -21.74 points" in out.stdout and "B better in 100.0% of the resamplings" in out.stdout
    assert "A: " + str(a) + "  CER " in out.stdout  # the characters too

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


def test_compare_files_on_characters_realigns_each_hypothesis_as_evaluate_scores_it(tmp_path):
    from asr.scoring import char_errors

    rows = [("u1", "THE CAT SAT", "THE CAT SAT", "THE BAT SAD"), ("u2", "ON A MAT", "ON MAT", "ON A MATT"),
            ("u3", "HELLO", "", "HELO")]  # (id, ref, hyp of A, hyp of B); an empty hypothesis too
    a = _per_utt(tmp_path / "a.tsv", [(u, 0, len(r.split()), r, ha) for u, r, ha, _ in rows])
    b = _per_utt(tmp_path / "b.tsv", [(u, 0, len(r.split()), r, hb) for u, r, _, hb in rows])
    c = compare_files(a, b, characters=True, samples=2000)
    refs = [r for _, r, _, _ in rows]
    expect_a = char_errors(refs, [h for _, _, h, _ in rows])  # what `asr evaluate` reports as the CER
    expect_b = char_errors(refs, [h for _, _, _, h in rows])
    assert c.unit == "CER" and c.words == expect_a.reference_length == len("THE CAT SAT" "ON A MAT" "HELLO")
    assert c.rate_a == pytest.approx(expect_a.rate) and c.rate_b == pytest.approx(expect_b.rate)
    assert (expect_a.errors, expect_b.errors) == (2 + 5, 2 + 1 + 1)  # "ON MAT": 2 deletions, "": 5
    assert c.delta < 0 and c.low <= c.delta <= c.high
    assert compare_files(a, b, samples=2000).delta == 0  # the word errors written in the files: 0 and 0
