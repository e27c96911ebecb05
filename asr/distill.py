"""Representation distillation: beside its CTC loss, the acoustic model's recurrent output, through a linear head
that only training uses, predicts a teacher's encoder states for the same audio (Whisper tiny.en's, written by
tools/make_teacher_states.py: `distill.dir=DIR` in `asr train`). The teacher heard far more speakers than any
corpus here; its states say which differences between two sounds matter, at every frame.

The states are computed once, on each cut's original audio: the targets stay clean while the student hears the
cut sped up, in a room or in noise. A speed-perturbed cut is as many seconds shorter or longer as a whole, so the
teacher's frames (20 ms of the original) are stretched linearly onto the student's (30 ms of the perturbed).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import torch

from asr.atomic import write_text_atomic

REPEATED = re.compile(r"_repeat\d+$")  # lhotse's CutSet.repeat(preserve_id=False) appends _repeat<k>


class TeacherStates:
    """The states of one tools/make_teacher_states.py directory, standardized per dimension; the file is mapped,
    not read, and opened on first use (in each loader worker)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        index = self.directory / "index.json"
        if not index.is_file():
            raise FileNotFoundError(f"{self.directory}: no index.json (tools/make_teacher_states.py writes it last, "
                                    "when it has finished)")
        self.index: dict[str, list[int]] = json.loads(index.read_text())
        stats = json.loads((self.directory / "stats.json").read_text())
        self.dim = int(stats["dim"])
        self.mean = np.asarray(stats["mean"], dtype=np.float32)
        self.std = np.asarray(stats["std"], dtype=np.float32)
        self._states: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.index)

    def _where(self, cut_id: str) -> list[int] | None:
        """[first frame, frames] of a cut; a manifest repeated in training (``{cuts: PATH, repeat: N}``: ids ending
        in ``_repeatK``) shares its cuts' states."""
        where = self.index.get(cut_id)
        return where if where is not None else self.index.get(REPEATED.sub("", cut_id))

    def has(self, cut_id: str) -> bool:
        return self._where(cut_id) is not None

    def get(self, cut_id: str) -> np.ndarray | None:
        """(frames, dim) standardized states of a cut, or None if the directory has none for it."""
        where = self._where(cut_id)
        if where is None:
            return None
        if self._states is None:
            self._states = np.memmap(self.directory / "states.f16", dtype=np.float16, mode="r").reshape(-1, self.dim)
        start, frames = where
        return (self._states[start:start + frames].astype(np.float32) - self.mean) / self.std

    def batch(self, cut_ids: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, frames, dim) padded states + (batch,) lengths, 0 for cuts without states."""
        states = [self.get(i) for i in cut_ids]
        lengths = torch.tensor([0 if s is None else len(s) for s in states], dtype=torch.long)
        padded = torch.zeros(len(states), max(1, int(lengths.max()) if len(states) else 1), self.dim)
        for b, s in enumerate(states):
            if s is not None:
                padded[b, :len(s)] = torch.from_numpy(s)
        return padded, lengths


class TeacherStatesWriter:
    """Writes a directory that :class:`TeacherStates` reads: ``add(cut_id, states)`` per cut, then ``close()``
    (or use it as a context manager). The states go to states.f16.tmp and are renamed by ``close``, index.json
    last: a run cut short leaves nothing that reads as finished. It resumes instead: at most every
    ``checkpoint_seconds`` (and when an error or Ctrl-C ends the ``with`` block) the states so far are flushed and
    progress.json records them; a writer opened on the same directory continues from that record (``has(cut_id)``:
    the cuts it holds), dropping whatever was written after it."""

    def __init__(self, directory: str | Path, dim: int, frame_shift: float, checkpoint_seconds: float = 60.0):
        self.directory = Path(directory)
        if (self.directory / "index.json").exists():
            raise ValueError(f"{self.directory}: already finished (index.json); remove it or choose another")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dim, self.frame_shift, self.checkpoint_seconds = dim, frame_shift, checkpoint_seconds
        self.index: dict[str, list[int]] = {}
        self.frames = 0
        self._sums, self._squares = np.zeros(dim), np.zeros(dim)
        self._progress, partial = self.directory / "progress.json", self.directory / "states.f16.tmp"
        if self._progress.is_file() and partial.is_file():
            saved = json.loads(self._progress.read_text())
            if (saved["dim"], saved["frame_shift"]) != (dim, frame_shift):
                raise ValueError(f"{self.directory}: a run cut short with dim {saved['dim']} and frame shift "
                                 f"{saved['frame_shift']}, not {dim} and {frame_shift}; remove it or choose another")
            self.index, self.frames = saved["index"], saved["frames"]
            self._sums, self._squares = np.asarray(saved["sums"]), np.asarray(saved["squares"])
            self._file = open(partial, "r+b")
            self._file.truncate(self.frames * dim * 2)  # float16: 2 bytes a value
            self._file.seek(0, os.SEEK_END)
        else:
            self._file = open(partial, "wb")
        self._saved_at = time.monotonic()

    def has(self, cut_id: str) -> bool:
        return cut_id in self.index

    def add(self, cut_id: str, states: np.ndarray) -> None:
        if states.ndim != 2 or states.shape[1] != self.dim or len(states) == 0:
            raise ValueError(f"{cut_id}: states of shape {states.shape}, expected (frames > 0, {self.dim})")
        if cut_id in self.index:
            raise ValueError(f"{cut_id}: states added twice")
        self._file.write(states.astype(np.float16).tobytes())  # first: a failed write is not in the index
        self.index[cut_id] = [self.frames, len(states)]
        self.frames += len(states)
        self._sums += states.sum(0)
        self._squares += (states.astype(np.float64) ** 2).sum(0)
        if time.monotonic() - self._saved_at >= self.checkpoint_seconds:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Flush the states and record them in progress.json: what a resumed writer starts from."""
        self._file.flush()
        os.fsync(self._file.fileno())
        write_text_atomic(self._progress, json.dumps({
            "dim": self.dim, "frame_shift": self.frame_shift, "frames": self.frames, "index": self.index,
            "sums": self._sums.tolist(), "squares": self._squares.tolist()}))
        self._saved_at = time.monotonic()

    def close(self) -> None:
        self._file.close()
        if not self.index:
            raise ValueError(f"{self.directory}: no states were added")
        mean = self._sums / self.frames
        std = np.sqrt(np.maximum(self._squares / self.frames - mean ** 2, 1e-8))
        stats = {"mean": mean.tolist(), "std": std.tolist(), "dim": self.dim, "frame_shift": self.frame_shift}
        os.replace(self.directory / "states.f16.tmp", self.directory / "states.f16")
        write_text_atomic(self.directory / "stats.json", json.dumps(stats))
        write_text_atomic(self.directory / "index.json", json.dumps(self.index))  # last: done
        self._progress.unlink(missing_ok=True)

    def __enter__(self) -> TeacherStatesWriter:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            self.close()
        else:  # an error or Ctrl-C: keep what was added for a resumed run
            try:
                self.checkpoint()
            except OSError:  # e.g. the disk is full: the last record stands; the first error is the one to see
                pass
            self._file.close()


def distill_loss(predicted: torch.Tensor, lengths: torch.Tensor, teacher: torch.Tensor,
                 teacher_lengths: torch.Tensor) -> torch.Tensor:
    """Squared error between the head's output (batch, time', dim) over ``lengths`` and the teacher's states
    (batch, frames, dim) over ``teacher_lengths``, each item's states stretched linearly to its own length:
    averaged over dimensions, summed over frames, averaged over the items that have states (as the CTC loss is
    summed over an utterance and averaged over the batch)."""
    batch, time, dim = predicted.shape
    n = lengths.to(predicted.device)
    m = teacher_lengths.to(predicted.device)
    has = (n > 0) & (m > 0)  # (batch,)
    if not bool(has.any()):
        # zero, yet connected to the head (DDP sees every parameter used); where() keeps NaN padding out of it
        return torch.where(torch.zeros((), dtype=torch.bool, device=predicted.device), predicted, 0.0).sum()
    # F.interpolate's linear rule (align_corners=False), every item at once: student frame j reads the teacher at
    # x = (j + 0.5) * m / n - 0.5 (not below 0), between frames floor(x) and floor(x) + 1 (not past m - 1)
    j = torch.arange(time, device=predicted.device)
    x = ((j[None] + 0.5) * (m.clamp(min=1) / n.clamp(min=1))[:, None] - 0.5).clamp(min=0)  # (batch, time')
    last = (m - 1).clamp(min=0)[:, None]
    i0 = x.floor().long().clamp(max=last)
    i1 = (i0 + 1).clamp(max=last)
    w = (x - i0).unsqueeze(-1)  # (batch, time', 1)
    states = teacher.to(predicted.device)
    def frames(i: torch.Tensor) -> torch.Tensor:
        return states.gather(1, i.unsqueeze(-1).expand(batch, time, dim)).float()

    target = frames(i0) * (1 - w) + frames(i1) * w  # (batch, time', dim)
    per_frame = ((predicted.float() - target) ** 2).mean(-1)  # (batch, time')
    per_frame = torch.where((j[None] < n[:, None]) & has[:, None], per_frame, 0.0)  # padding never counts
    return per_frame.sum() / has.sum()
