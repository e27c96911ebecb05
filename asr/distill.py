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
from typing import NamedTuple

import numpy as np
import torch

from asr.atomic import write_text_atomic

# what lhotse appends to a cut's id: CutSet.repeat(preserve_id=False) _repeat<k> (a manifest repeated in training),
# then PerturbSpeed (asr.augment, in every batch) _sp<factor>
DERIVED = re.compile(r"(_repeat\d+)?(_sp\d+(\.\d+)?)?$")
STATES_FILE = {"float16": "states.f16", "int8": "states.i8"}
INT8_RANGE = 6.0  # int8 storage spans +-6 standard deviations of the calibration states (127 steps each way)


class Quantization(NamedTuple):
    """int8 storage of states: q = round((x - offset) / scale), clipped to +-127, per dimension."""
    offset: np.ndarray  # (dim,)
    scale: np.ndarray  # (dim,)

    @classmethod
    def calibrate(cls, states: list[np.ndarray]) -> Quantization:
        """From some cuts' states (the first few hundred of a corpus): their mean, and +-6 standard deviations."""
        every = np.concatenate(states).astype(np.float64)
        return cls(every.mean(0), np.maximum(every.std(0), 1e-6) * INT8_RANGE / 127)

    def __call__(self, states: np.ndarray) -> np.ndarray:
        return np.clip(np.rint((states - self.offset) / self.scale), -127, 127).astype(np.int8)


def pool_frames(states: np.ndarray, frames: int) -> np.ndarray:
    """(n, dim) -> (ceil(n / frames), dim): each run of ``frames`` frames averaged (the last run may be shorter)."""
    if frames == 1:
        return states
    starts = np.arange(0, len(states), frames)
    return (np.add.reduceat(states.astype(np.float64), starts) / np.diff(np.append(starts, len(states)))[:, None]
            ).astype(np.float32)


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
        self.dim, self.frame_shift = int(stats["dim"]), float(stats["frame_shift"])  # seconds per state
        mean, std = np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32)
        self.dtype = stats.get("dtype", "float16")
        if self.dtype == "int8":  # stored q = (x - offset) / scale: standardized, (q * scale + offset - mean) / std
            offset, scale = (np.asarray(stats["quantization"][k], np.float32) for k in ("offset", "scale"))
            self.scale, self.shift = scale / std, (offset - mean) / std
        else:
            self.scale, self.shift = 1 / std, -mean / std
        self._states: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.index)

    def _where(self, cut_id: str) -> list[int] | None:
        """[first frame, frames] of a cut; a cut sped up or slowed down in training (``_sp0.9``) and a manifest
        repeated in training (``{cuts: PATH, repeat: N}``: ``_repeatK``) share the original cut's states (stretched
        onto the student's frames by :func:`distill_loss`)."""
        where = self.index.get(cut_id)
        return where if where is not None else self.index.get(DERIVED.sub("", cut_id, count=1))

    def has(self, cut_id: str) -> bool:
        return self._where(cut_id) is not None

    def get(self, cut_id: str) -> np.ndarray | None:
        """(frames, dim) standardized states of a cut, or None if the directory has none for it."""
        where = self._where(cut_id)
        if where is None:
            return None
        if self._states is None:
            path = self.directory / STATES_FILE[self.dtype]
            self._states = np.memmap(path, dtype=self.dtype, mode="r").reshape(-1, self.dim)
        start, frames = where
        return self._states[start:start + frames].astype(np.float32) * self.scale + self.shift

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
    (or use it as a context manager). The states go to states.f16.tmp (.i8.tmp) and are renamed by ``close``, index.json
    last: a run cut short leaves nothing that reads as finished. It resumes instead: at most every
    ``checkpoint_seconds`` (and when an error or Ctrl-C ends the ``with`` block) the states so far are flushed and
    progress.json records them; a writer opened on the same directory continues from that record (``has(cut_id)``:
    the cuts it holds), dropping whatever was written after it."""

    def __init__(self, directory: str | Path, dim: int, frame_shift: float, checkpoint_seconds: float = 60.0,
                 quantization: Quantization | None = None):
        """``quantization``: store int8 (half of float16's bytes; :class:`Quantization`), not float16."""
        self.directory = Path(directory)
        if (self.directory / "index.json").exists():
            raise ValueError(f"{self.directory}: already finished (index.json); remove it or choose another")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dim, self.frame_shift, self.checkpoint_seconds = dim, frame_shift, checkpoint_seconds
        self.quantization = quantization
        self.dtype = "float16" if quantization is None else "int8"
        quantized = None if quantization is None else {k: v.tolist() for k, v in quantization._asdict().items()}
        self.index: dict[str, list[int]] = {}
        self.frames = 0
        self._sums, self._squares = np.zeros(dim), np.zeros(dim)
        self._settings = {"dim": dim, "frame_shift": frame_shift, "dtype": self.dtype, "quantization": quantized}
        self._progress = self.directory / "progress.json"
        partial = self.directory / (STATES_FILE[self.dtype] + ".tmp")
        if self._progress.is_file():
            saved = json.loads(self._progress.read_text())
            if {k: saved.get(k) for k in self._settings} != self._settings:
                raise ValueError(f"{self.directory}: a run cut short with other settings (dim {saved['dim']}, frame "
                                 f"shift {saved['frame_shift']}, {saved.get('dtype')}, its quantization); remove it "
                                 "or choose another")
            finished = self.directory / STATES_FILE[self.dtype]
            if not partial.is_file() and finished.is_file():  # reopen() was cut short between its two steps
                os.replace(finished, partial)
            if not partial.is_file():
                raise ValueError(f"{self.directory}: progress.json without {partial.name}; remove it or choose another")
            self.index, self.frames = saved["index"], saved["frames"]
            self._sums, self._squares = np.asarray(saved["sums"]), np.asarray(saved["squares"])
            self._file = open(partial, "r+b")
            self._file.truncate(self.frames * dim * np.dtype(self.dtype).itemsize)
            self._file.seek(0, os.SEEK_END)
        else:
            self._file = open(partial, "wb")
        self._saved_at = time.monotonic()

    @staticmethod
    def resumable_quantization(directory: str | Path) -> Quantization | None:
        """The quantization of a run cut short in ``directory`` (its states must keep it), if it stored int8."""
        progress = Path(directory) / "progress.json"
        saved = json.loads(progress.read_text()).get("quantization") if progress.is_file() else None
        return None if saved is None else Quantization(**{k: np.asarray(v) for k, v in saved.items()})

    @staticmethod
    def reopen(directory: str | Path) -> None:
        """Turn a finished directory back into a run cut short after its last cut, so that a writer opened on it
        adds the states of more cuts (a corpus grown since) and ``close`` finishes it again with the statistics of
        all. progress.json is written first, then index.json removed, then the states renamed: stopped anywhere
        in between, the directory reads either as finished or as a run to resume (``__init__`` finds the states
        under either name)."""
        directory = Path(directory)
        index = json.loads((directory / "index.json").read_text())
        stats = json.loads((directory / "stats.json").read_text())
        frames = sum(n for _, n in index.values())
        mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
        settings = {k: stats.get(k) for k in ("dim", "frame_shift", "dtype", "quantization")}
        settings["dtype"] = settings["dtype"] or "float16"
        write_text_atomic(directory / "progress.json", json.dumps({  # the sums that gave mean and std
            **settings, "frames": frames, "index": index,
            "sums": (mean * frames).tolist(), "squares": ((std ** 2 + mean ** 2) * frames).tolist()}))
        (directory / "index.json").unlink()
        name = STATES_FILE[settings["dtype"]]
        os.replace(directory / name, directory / (name + ".tmp"))

    def has(self, cut_id: str) -> bool:
        return cut_id in self.index

    def add(self, cut_id: str, states: np.ndarray) -> None:
        if states.ndim != 2 or states.shape[1] != self.dim or len(states) == 0:
            raise ValueError(f"{cut_id}: states of shape {states.shape}, expected (frames > 0, {self.dim})")
        if cut_id in self.index:
            raise ValueError(f"{cut_id}: states added twice")
        stored = states.astype(np.float16) if self.quantization is None else self.quantization(states)
        self._file.write(stored.tobytes())  # first: a failed write is not in the index
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
            **self._settings, "frames": self.frames, "index": self.index,
            "sums": self._sums.tolist(), "squares": self._squares.tolist()}))
        self._saved_at = time.monotonic()

    def close(self) -> None:
        self._file.close()
        if not self.index:
            raise ValueError(f"{self.directory}: no states were added")
        mean = self._sums / self.frames
        std = np.sqrt(np.maximum(self._squares / self.frames - mean ** 2, 1e-8))
        stats = {"mean": mean.tolist(), "std": std.tolist(), **self._settings}
        os.replace(self.directory / (STATES_FILE[self.dtype] + ".tmp"), self.directory / STATES_FILE[self.dtype])
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
    batch, length, dim = predicted.shape
    n = lengths.to(predicted.device)
    m = teacher_lengths.to(predicted.device)
    has = (n > 0) & (m > 0)  # (batch,)
    if not bool(has.any()):
        # zero, yet connected to the head (DDP sees every parameter used); where() keeps NaN padding out of it
        return torch.where(torch.zeros((), dtype=torch.bool, device=predicted.device), predicted, 0.0).sum()
    # F.interpolate's linear rule (align_corners=False), every item at once: student frame j reads the teacher at
    # x = (j + 0.5) * m / n - 0.5 (not below 0), between frames floor(x) and floor(x) + 1 (not past m - 1)
    j = torch.arange(length, device=predicted.device)
    x = ((j[None] + 0.5) * (m.clamp(min=1) / n.clamp(min=1))[:, None] - 0.5).clamp(min=0)  # (batch, time')
    last = (m - 1).clamp(min=0)[:, None]
    i0 = x.floor().long().clamp(max=last)
    i1 = (i0 + 1).clamp(max=last)
    w = (x - i0).unsqueeze(-1)  # (batch, time', 1)
    states = teacher.to(predicted.device)

    def frames(i: torch.Tensor) -> torch.Tensor:  # (batch, time') indices -> (batch, time', dim) teacher frames
        return states.gather(1, i.unsqueeze(-1).expand(batch, length, dim)).float()

    target = frames(i0) * (1 - w) + frames(i1) * w  # (batch, time', dim)
    per_frame = ((predicted.float() - target) ** 2).mean(-1)  # (batch, time')
    per_frame = torch.where((j[None] < n[:, None]) & has[:, None], per_frame, 0.0)  # padding never counts
    return per_frame.sum() / has.sum()
