"""Greedy CTC words from log-prob frames as they come (a stream, or a long file window by window), holding only the
frames of the word not yet finished.

A character, once the greedy path emits it, never changes; a word is settled when a space follows it or ``pause``
seconds pass without a character (the rule of ``words_from_path``, which gives the same words with the same times
over the whole path at once). A pending word longer than ``max_word_seconds`` is cut there, so memory stays bounded
whatever comes in."""

from __future__ import annotations

import torch

from asr.decoding.alignment import PAUSE, Word, words_from_path
from asr.decoding.ctc import path_text, segments
from asr.text import Tokenizer


class IncrementalGreedy:
    def __init__(self, tokenizer: Tokenizer, frame_seconds: float, pause: float = PAUSE,
                 max_word_seconds: float = 10.0):
        self.tokenizer, self.frame_seconds = tokenizer, frame_seconds
        self.pause_frames = max(1, round(pause / frame_seconds))
        self.max_frames = round(max_word_seconds / frame_seconds)
        self.space = tokenizer.tokens.index(" ")
        self.start = 0  # frame where the pending frames begin
        self.path: list[int] = []  # greedy tokens of the pending frames
        self.log_probs = torch.zeros(0, len(tokenizer))  # (pending frames, vocab)

    def push(self, log_probs: torch.Tensor, final: bool = False) -> list[Word]:
        """(frames, vocab) log-probs -> the words settled by them (all pending ones if ``final``)."""
        self.log_probs = torch.cat([self.log_probs, log_probs.detach().float().cpu()])
        self.path += log_probs.argmax(dim=-1).tolist()
        cut = len(self.path) if final else self._settled()
        if cut == 0:
            return []
        words = words_from_path(self.path[:cut], self.log_probs[:cut], self.tokenizer, self.frame_seconds,
                                offset=self.start * self.frame_seconds)
        self.start += cut
        self.path, self.log_probs = self.path[cut:], self.log_probs[cut:]
        return words

    def pending_text(self) -> str:
        return path_text(self.path, self.tokenizer)

    def _settled(self) -> int:
        """How many pending frames hold only finished words: up to the last space run, or all of them when the
        last character is ``pause`` or more behind (or the pending word has run too long)."""
        runs = segments(self.path, self.tokenizer.blank_id)
        if not runs:
            return len(self.path) if len(self.path) >= self.pause_frames else 0
        if len(self.path) - 1 - runs[-1].last >= self.pause_frames or len(self.path) >= self.max_frames:
            return len(self.path)
        spaces = [r.first for r in runs if r.token == self.space]
        return spaces[-1] if spaces else 0
