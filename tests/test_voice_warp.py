"""Voice warping at corpus time (asr/corpora/voice_warp.py, the mini-warp plan): new speakers from a TTS voice."""

import numpy as np
import pytest

from asr.corpora import voice_warp
from asr.corpora.plans import PLANS, CorpusPlan, SubsetPlan
from asr.corpora.synthetic import Speaker, make_speakers, synthesize

needs_praat = pytest.mark.skipif(not voice_warp.available(),
                                 reason="praat-parselmouth not installed (pip install '.[voices]')")
SR = 16000


def vowel(f0: float, formants=(700.0, 1200.0, 2600.0), seconds: float = 1.0) -> np.ndarray:
    """A steady synthetic vowel: a pulse train at f0 through three formant resonators."""
    import scipy.signal

    n = int(seconds * SR)
    src = np.zeros(n)
    src[::int(SR / f0)] = 1.0
    out = src
    for f in formants:  # two-pole resonators, 80 Hz bandwidth
        r = np.exp(-np.pi * 80 / SR)
        out = scipy.signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / SR), r * r], out)
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def centroid(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    return float((spec * freqs).sum() / spec.sum())


def f0_of(x: np.ndarray) -> float:
    import parselmouth

    pitch = parselmouth.Sound(x.astype(np.float64), SR).to_pitch(pitch_floor=60, pitch_ceiling=600)
    values = pitch.selected_array["frequency"]
    return float(np.median(values[values > 0]))


@needs_praat
def test_change_voice_moves_formants_and_pitch_and_keeps_the_length():
    x = vowel(120.0)
    up = voice_warp.change_voice(x, SR, formant_ratio=1.2, pitch_ratio=1.5)
    down = voice_warp.change_voice(x, SR, formant_ratio=0.85, pitch_ratio=0.8)
    for y in (up, down):
        assert y.dtype == np.float32 and len(y) == len(x) and np.isfinite(y).all()
    assert centroid(up) > 1.08 * centroid(x) and centroid(down) < 0.95 * centroid(x)
    assert abs(f0_of(x) - 120) < 5
    assert abs(f0_of(up) / 120 - 1.5) < 0.08 and abs(f0_of(down) / 120 - 0.8) < 0.08


@needs_praat
def test_change_voice_rejects_ratios_out_of_range():
    with pytest.raises(ValueError, match="formant ratio"):
        voice_warp.change_voice(vowel(120.0), SR, formant_ratio=3.0, pitch_ratio=1.0)


def test_missing_praat_names_the_package(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_parselmouth(name, *args, **kwargs):
        if name.startswith("parselmouth"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_parselmouth)
    assert not voice_warp.available()
    with pytest.raises(RuntimeError, match="praat-parselmouth"):
        voice_warp.change_voice(vowel(120.0), SR, 1.1, 1.1)


def test_warp_plan_warps_half_the_training_speakers_and_leaves_evaluation_alone():
    mini, warp = make_speakers(PLANS["mini"], 0), make_speakers(PLANS["mini-warp"], 0)
    warped = [s for s in warp["train-clean-5"] if s.warped]
    assert len(warped) == len(warp["train-clean-5"]) // 2
    assert all(0.84 <= s.formant <= 1.2 and 0.5 <= s.warp_pitch <= 2.0 for s in warped)
    assert len({s.name for s in warp["train-clean-5"]}) == len(warp["train-clean-5"])  # still distinct speakers
    # the same engine voices underneath; dev and test identical to the mini plan's (results stay comparable)
    assert [(s.engine, s.voice, s.rate) for s in warp["train-clean-5"]] == \
        [(s.engine, s.voice, s.rate) for s in mini["train-clean-5"]]
    assert warp["dev-clean-2"] == mini["dev-clean-2"] and warp["test-clean-2"] == mini["test-clean-2"]
    assert not any(s.warped for group in mini.values() for s in group)
    assert make_speakers(PLANS["mini-warp"], 0) == warp  # deterministic


@needs_praat
def test_a_warped_speaker_sounds_different_from_its_voice():
    plan = CorpusPlan((SubsetPlan("train-clean-5", 4, 1, 1, warp_share=1.0),))
    spk: Speaker = make_speakers(plan, 0)["train-clean-5"][0]
    assert spk.warped and ":f" in spk.name
    from dataclasses import replace

    text = "THE SUN ROSE OVER THE HILLS"
    warped, plain = synthesize(spk, text), synthesize(replace(spk, formant=1.0, warp_pitch=1.0), text)
    assert warped.dtype == np.float32 and len(warped) == len(plain)
    assert abs(np.abs(warped).max() - 0.5) < 1e-3  # scaled like every other utterance
    assert not np.allclose(warped, plain, atol=1e-2)
