"""Long audio: overlapping windows, each run through the bidirectional model on its own, merged at frame level.

A bidirectional model sees the whole input, so a long file cannot be streamed with state carried across chunks;
instead it is cut into windows of ``window`` seconds that overlap by ``overlap`` seconds. Each window is an
independent utterance (memory bounded by the window, not the file). Window starts are whole output frames apart,
so a window's frame ``i`` is the file's frame ``start + i``; in each overlap the frames of the earlier window are
kept up to its middle and the later window's after it, so no frame comes from the few frames next to a window
edge, where the model lacks context.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class WindowConfig:
    window: float = 30.0  # seconds per window; inputs no longer than this are not cut
    overlap: float = 4.0  # seconds shared by neighbouring windows

    def __post_init__(self):
        if not 0 < 2 * self.overlap < self.window:
            raise ValueError(f"need 0 < 2 * overlap < window, got window {self.window} s, overlap {self.overlap} s")


@dataclass(frozen=True)
class Window:
    start: int  # first sample
    end: int  # one past the last sample
    keep_from: int  # the file's output frames [keep_from, keep_to) come from this window
    keep_to: int
    first_frame: int  # the file's output frame of this window's frame 0


def plan_windows(num_samples: int, total_frames: int, frame_samples: int, sample_rate: int,
                 config: WindowConfig) -> list[Window]:
    """Windows covering ``num_samples``; ``total_frames``: the model's output frames for the whole input."""
    window = round(config.window * sample_rate / frame_samples) * frame_samples
    overlap = round(config.overlap * sample_rate / frame_samples) * frame_samples
    if num_samples <= window:
        return [Window(0, num_samples, 0, total_frames, 0)]
    step = window - overlap
    starts = list(range(0, num_samples - overlap, step))
    if len(starts) > 1 and num_samples - starts[-1] < overlap + frame_samples:  # a sliver: the previous covers it
        starts.pop()
    out = []
    for k, start in enumerate(starts):
        keep_from = 0 if k == 0 else (start + overlap // 2) // frame_samples
        keep_to = total_frames if k == len(starts) - 1 else (starts[k + 1] + overlap // 2) // frame_samples
        end = num_samples if k == len(starts) - 1 else min(num_samples, start + window)
        out.append(Window(start, end, keep_from, keep_to, start // frame_samples))
    return out


def stitch(windows: list[Window], emissions: list[torch.Tensor]) -> torch.Tensor:
    """Per-window (time', vocab) log-probs -> the file's (total_frames, vocab), each frame from one window."""
    parts = []
    for w, e in zip(windows, emissions):
        lo, hi = w.keep_from - w.first_frame, w.keep_to - w.first_frame
        if lo < 0 or hi > e.shape[0]:
            raise AssertionError(f"window {w} has {e.shape[0]} frames, cannot give [{lo}, {hi})")
        parts.append(e[lo:hi])
    return torch.cat(parts)
