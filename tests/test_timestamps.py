"""Word times and long audio with a model that recognizes speech: the small model in tests/data/small_model (trained
on the synthetic mini corpus, see tests/data/README.md) transcribes the tiny corpus's 20 utterances, which it never
heard (other sentences, other voice configurations), joined with silences into one 96-second recording: longer than
three 30-second windows.
"""

import random
from pathlib import Path

import pytest

from asr.audio import SAMPLE_RATE
from asr.boundaries import boundary_errors, join
from asr.cuts import load_eval_waves
from asr.scoring import word_errors
from asr.transcribe import load_model
from asr.windows import WindowConfig

SMALL_MODEL = Path(__file__).parent / "data" / "small_model"


@pytest.fixture(scope="module")
def joined(tiny_corpus):
    waves, refs = load_eval_waves(tiny_corpus / "LibriSpeech")
    recording, bounds = join(waves, random.Random(0), (0.3, 1.0))
    recognizer = load_model(SMALL_MODEL, decode="greedy")
    assert len(recording) / SAMPLE_RATE > 3 * recognizer.windows.window
    return refs, bounds, recording, recognizer, recognizer.transcribe(recording, sample_rate=SAMPLE_RATE)


def test_word_times_at_known_utterance_boundaries(joined):
    """Every correctly recognized first word of an utterance starts within 0.1 s of its speech onset; last words
    end within 0.1 s of the speech end, except where CTC's spike marks only the onset of a long final vowel."""
    refs, bounds, _, _, whole = joined
    errors = boundary_errors(refs, bounds, whole.words)
    starts = [e for e in errors if e.edge == "start"]
    ends = [e for e in errors if e.edge == "end"]
    assert len(starts) >= len(refs) // 2 and len(ends) >= 5, "too few edges recognized to judge"
    assert [e for e in starts if abs(e.error) > 0.1] == []
    assert sum(abs(e.error) <= 0.1 for e in ends) >= 0.8 * len(ends), ends
    assert all(abs(e.error) <= 0.3 for e in ends), ends


def test_windows_lose_no_words(joined):
    """The recording in overlapping 30 s windows gives the words of one pass over the whole of it, to within a few
    characters near the joins, and scores as well against the known transcripts."""
    refs, _, recording, recognizer, windowed = joined
    recognizer.windows = WindowConfig(window=1000.0, overlap=4.0)
    one_pass = recognizer.transcribe(recording, sample_rate=SAMPLE_RATE)
    assert abs(len(windowed.words) - len(one_pass.words)) <= 2
    assert word_errors([one_pass.text], [windowed.text]).rate <= 0.03
    reference = " ".join(refs)
    assert word_errors([reference], [windowed.text]).rate <= word_errors([reference], [one_pass.text]).rate + 0.01
    assert [w.text for w in windowed.words] == windowed.text.split()
    assert all(a.end <= b.start + 1e-6 for a, b in zip(windowed.words, windowed.words[1:]))
    assert windowed.words[-1].end <= len(recording) / SAMPLE_RATE + 0.04
