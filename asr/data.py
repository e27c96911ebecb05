"""Cuts -> padded training batches (log-mel + lengths, tokens + lengths), the bucketing sampler with exact
mid-epoch resume, and the normalization statistics of a CutSet. Reading cuts themselves: ``asr.cuts``."""

from __future__ import annotations

import logging
import random
import warnings
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import torch
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler, SpecAugment
from torch.utils.data import DataLoader, Dataset

from asr.augment import FrequencyWarp, NoiseFloor, build_transforms, reseed
from asr.cuts import load_cut_waves, load_cuts
from asr.distill import TeacherStates
from asr.features import FeatureConfig, feature_extractor
from asr.text import Tokenizer

log = logging.getLogger(__name__)


class Batch(NamedTuple):
    features: torch.Tensor  # (batch, frames, mel)
    feature_lengths: torch.Tensor  # (batch,)
    tokens: torch.Tensor  # (batch, max_tokens), padded with 0
    token_lengths: torch.Tensor  # (batch,)
    texts: list[str]  # normalized reference texts
    cut_ids: list[str]
    skipped: int  # cuts of this batch whose audio could not be loaded
    # distillation targets (asr.distill): (batch, frames, dim) teacher states + (batch,) lengths, 0 where none
    teacher: tuple[torch.Tensor, torch.Tensor] | None = None


class AsrDataset(Dataset):
    """Map-style lhotse dataset: a CutSet (one sampler batch) -> :class:`Batch`."""

    def __init__(self, tokenizer: Tokenizer, features: FeatureConfig = FeatureConfig(),
                 speed_perturb: list[float] | None = None, spec_augment: dict | None = None,
                 noise: dict | None = None, augment: dict | None = None, seed: int = 0,
                 teacher: TeacherStates | None = None):
        """``teacher``: states to distill (asr.distill), looked up by cut id and added to each batch."""
        self.tokenizer = tokenizer
        self.teacher = teacher
        self.logmel = feature_extractor(features)
        augment = dict(augment or {})
        vtlp = augment.pop("vtlp", None)  # on the features, after the signal transforms
        self.warp = FrequencyWarp(tuple(vtlp), features.n_mels, features.sample_rate, seed) if vtlp else None
        floor = augment.pop("floor", None)  # on the loaded waveforms
        self.floor = NoiseFloor(floor.get("p", 1.0), tuple(floor.get("dbfs", (-75, -45))), seed) if floor else None
        # train-only signal transforms (asr.augment): speed, reverb, noise, volume, clipping, telephone, codec
        self.transforms = build_transforms(speed_perturb, noise, augment, seed, load_noise=load_cuts)
        self.spec_augment = SpecAugment(**spec_augment) if spec_augment else None
        self.seed = seed

    def __getitem__(self, item: CutSet | tuple[int, int, CutSet]) -> Batch:
        """A batch of cuts, or (epoch, batch index, cuts) from a training loader (``ResumableSampler``): then its
        random augmentation is seeded from (seed, epoch, index, its first cut: DDP ranks differ), with the process's
        random state put back after."""
        if not isinstance(item, tuple):
            return self._make(item)
        epoch, index, cuts = item
        first = next(iter(cuts), None)
        seed = zlib.crc32(f"{self.seed}:{epoch}:{index}:{first.id if first is not None else ''}".encode())
        python_state, numpy_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                random.seed(seed)
                np.random.seed(seed)
                torch.manual_seed(seed)
                reseed(self.transforms, seed)
                if self.warp is not None:
                    self.warp.rng = np.random.default_rng(seed)
                if self.floor is not None:
                    self.floor.rng = random.Random(seed)
                return self._make(cuts)
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)

    def _make(self, cuts: CutSet) -> Batch:
        for transform in self.transforms:
            cuts = transform(cuts)
        audio = load_cut_waves(cuts)
        waves = self.floor(audio.waves) if self.floor is not None else audio.waves
        return self.collate(waves, audio.texts, audio.ids, audio.skipped)

    def collate(self, waves: list[torch.Tensor], texts: list[str], ids: list[str], skipped: int = 0) -> Batch:
        if waves:
            feats, feat_lens = self.logmel.batch(waves)  # (batch, frames, mel)
        else:  # every cut of the batch failed to load: an empty batch (the training step skips it)
            feats, feat_lens = torch.zeros(0, 1, self.logmel.config.n_mels), torch.zeros(0, dtype=torch.long)
        if self.warp is not None and len(waves):
            feats = self.warp(feats)
        if self.spec_augment is not None and len(waves):
            feats = self.spec_augment(feats)
        token_ids = [torch.tensor(self.tokenizer.encode(t, normalize=False), dtype=torch.long) for t in texts]
        tokens = torch.nn.utils.rnn.pad_sequence(token_ids, batch_first=True) if token_ids else torch.zeros(0, 1)
        token_lens = torch.tensor([len(t) for t in token_ids], dtype=torch.long)
        teacher = self.teacher.batch(ids) if self.teacher is not None else None
        return Batch(feats, feat_lens, tokens.long(), token_lens, texts, ids, skipped, teacher)


class ResumableSampler:
    """Wraps a lhotse sampler so that an epoch can restart after its first ``skip`` batches (exact resume).

    ``make_sampler`` builds a sampler; lhotse samplers are their own iterators, so counting batches (``len``) and
    measuring padding use fresh copies and never disturb the one being iterated.
    """

    def __init__(self, make_sampler: Callable[[], DynamicBucketingSampler]):
        self.make_sampler = make_sampler
        self.sampler = make_sampler()
        self.skip = 0
        self._len, self._len_epoch = 0, -1

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.sampler.epoch:
            self.skip = 0
        self.sampler.set_epoch(epoch)

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def epoch_batches(self) -> Iterator[CutSet]:
        """The batches of the current epoch, from a fresh sampler (metadata only, no audio)."""
        fresh = self.make_sampler()
        fresh.set_epoch(self.epoch)
        return iter(fresh)

    def __iter__(self):
        """(epoch, batch index in the epoch, cuts): the dataset seeds the batch's augmentation from the first two."""
        it = iter(self.sampler)  # lhotse samplers restart the epoch on every iter(): call it once only
        for _ in range(self.skip):
            next(it, None)
        index = self.skip
        while (batch := next(it, None)) is not None:
            yield self.sampler.epoch, index, batch
            index += 1

    def __len__(self) -> int:
        """Batches in the whole current epoch, skipped ones included (Lightning counts those as done on resume)."""
        if self._len_epoch != self.epoch:
            self._len = sum(1 for _ in self.epoch_batches())
            self._len_epoch = self.epoch
        return self._len


class ResumableLoader(DataLoader):
    """A DataLoader whose ``state_dict`` (saved by Lightning in checkpoints) is (epoch, batches trained).

    Its ``len`` is the number of batches of the sampler's current epoch: a shuffled bucketing sampler yields a
    slightly different number every epoch, so the trainer must ask again each epoch (see ``AsrDataModule``).
    """

    def __init__(self, dataset: Dataset, sampler: ResumableSampler, **kwargs: Any):
        super().__init__(dataset, sampler=sampler, batch_size=None, **kwargs)
        self.batches_done = 0

    def __iter__(self):
        self.batches_done = self.sampler.skip
        return super().__iter__()

    def batch_trained(self) -> None:
        """Called by the training system at the start of each training batch."""
        self.batches_done += 1

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches_done": self.batches_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.set_epoch(state["epoch"])
        self.sampler.skip = state["batches_done"]


def _bucketing_sampler(cuts: CutSet, **options: Any) -> DynamicBucketingSampler:
    """lhotse's sampler over an eagerly read CutSet, on purpose: the cuts were filtered with every skip counted and
    checked for duplicate ids, and the epoch's batches are known up front (padding waste, exact resume). Its advice
    to read lazily instead is not for this setup, so it is not printed at every run."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="You are using DynamicBucketingSampler with an eagerly read CutSet")
        return DynamicBucketingSampler(cuts, **options)


def make_loader(cuts: CutSet, dataset: AsrDataset, max_duration: float, shuffle: bool, num_buckets: int = 10,
                seed: int = 0, num_workers: int = 0, drop_last: bool = False, world_size: int = 1, rank: int = 0,
                **loader_args: Any) -> ResumableLoader:
    """Batches of ``max_duration`` seconds from lhotse's DynamicBucketingSampler; under DDP each of ``world_size``
    ranks gets different batches, the same number of them on every rank (lhotse's guarantee)."""
    make_sampler = partial(_bucketing_sampler, cuts, max_duration=max_duration, shuffle=shuffle,
                           num_buckets=num_buckets, seed=seed, drop_last=drop_last, world_size=world_size, rank=rank)
    # its own generator: starting an epoch's iterator must not draw from the global random state (exact resume)
    return ResumableLoader(dataset, ResumableSampler(make_sampler), num_workers=num_workers,
                           persistent_workers=num_workers > 0, generator=torch.Generator().manual_seed(seed),
                           **loader_args)


def padding_waste(loader: ResumableLoader) -> float:
    """Share of padded (wasted) audio in one epoch of the loader's batches, from the manifest durations only."""
    real = padded = 0.0
    for cuts in loader.sampler.epoch_batches():
        durations = [c.duration for c in cuts]
        real += sum(durations)
        padded += max(durations, default=0.0) * len(durations)
    return 1 - real / padded if padded else 0.0


def compute_cmvn(cuts: CutSet, features: FeatureConfig = FeatureConfig(), max_duration: float = 200.0):
    """Global mean/std of the log-mel features of ``cuts`` (a progress bar; unloadable cuts are skipped)."""
    from lhotse.dataset import SimpleCutSampler
    from tqdm.auto import tqdm

    from asr.features import StatsAccumulator

    logmel = feature_extractor(features)
    acc = StatsAccumulator(features.n_mels)
    sampler = SimpleCutSampler(cuts, max_duration=max_duration, world_size=1, rank=0)
    for batch_cuts in tqdm(sampler, desc="Normalization stats", unit="batch"):
        waves = load_cut_waves(batch_cuts).waves
        if waves:
            acc.add(*logmel.batch(waves))
    return acc.result()
