"""Word times and confidence from a CTC frame path, on hand-made posteriors with known spikes."""

import math

import torch

from asr.decoding.alignment import words_from_path
from asr.decoding.config import DecodeSettings
from asr.decoding.ctc import best_path
from asr.decoding.settings import make_decoder
from asr.text import Tokenizer


def spikes(tok, frames, events, p=0.9):
    """(frames, vocab) log-probs: blank everywhere except token ``c`` with probability ``p`` at each (frame, c)."""
    probs = torch.full((frames, len(tok)), 1e-4)
    probs[:, tok.blank_id] = 1.0
    for t, c in events:
        probs[t] = (1 - p) / (len(tok) - 1)
        probs[t, tok.tokens.index(c)] = p
    return (probs / probs.sum(-1, keepdim=True)).log()


def test_words_span_their_characters_frames_with_their_confidence():
    tok = Tokenizer()
    # "HI" at frames 5-6 (I held 2 frames), space at 9, "YO" at 20 and 23
    logp = spikes(tok, 30, [(5, "H"), (6, "I"), (7, "I"), (9, " "), (20, "Y"), (23, "O")])
    words = words_from_path(best_path(logp), logp, tok, frame_seconds=0.04, offset=1.0)
    assert [(w.text, w.start, w.end) for w in words] == [("HI", 1.2, 1.32), ("YO", 1.8, 1.96)]
    assert all(math.isclose(w.confidence, 0.9, rel_tol=1e-3) for w in words)


def test_beam_paths_give_the_same_words_as_greedy_on_clear_input():
    tok = Tokenizer()
    logp = spikes(tok, 40, [(3, "A"), (8, " "), (12, "B"), (14, "E"), (24, "E")], p=0.99)
    greedy, beam = (make_decoder(DecodeSettings(method=m), tok)([logp])[0] for m in ("greedy", "beam"))
    assert greedy.text == beam.text == "A BEE" and len(beam.path) == 40
    assert words_from_path(list(beam.path), logp, tok, 0.04) == words_from_path(list(greedy.path), logp, tok, 0.04)


def test_a_long_pause_ends_a_word_even_without_a_space():
    """Where two utterances meet, a model trained on single sentences emits no space; 0.5 s of silence splits."""
    tok = Tokenizer()
    logp = spikes(tok, 60, [(3, "G"), (5, "O"), (30, "N"), (32, "O"), (44, "W")])  # 1 s pause, then 0.48 s
    words = words_from_path(best_path(logp), logp, tok, frame_seconds=0.04)
    assert [(w.text, w.start, w.end) for w in words] == [("GO", 0.12, 0.24), ("NOW", 1.2, 1.8)]
