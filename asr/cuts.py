"""Reading cuts, for training and evaluation alike: manifests (one or several), a LibriSpeech-layout directory,
the normalized transcript of a cut, its audio as 16 kHz mono, and the filter that keeps what CTC can learn from.
Nothing here fails a long run on one bad utterance: unreadable audio is a counted skip."""

from __future__ import annotations

import logging
import random
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from lhotse import CutSet
from tqdm.auto import tqdm

from asr.audio import SAMPLE_RATE
from asr.corpora.librispeech import cuts_path, find_subsets, prepare_librispeech
from asr.features import FeatureConfig
from asr.models.acoustic import subsampled_length
from asr.text import Tokenizer, normalize_text

log = logging.getLogger(__name__)


class CutAudio(NamedTuple):
    waves: list[torch.Tensor]  # (samples,) float32 at 16 kHz, one per cut that loaded
    texts: list[str]  # normalized transcripts
    ids: list[str]
    skipped: int  # cuts whose audio could not be loaded (logged)

    def as_numpy(self) -> tuple[list[np.ndarray], list[str], list[str], int]:
        return [w.numpy() for w in self.waves], self.texts, self.ids, self.skipped


def load_cuts(path: str | Path | list | Mapping) -> CutSet:
    """A cuts manifest, or several combined (e.g. train-clean-100 + train-clean-360 + train-other-500). An entry
    ``{cuts: PATH, repeat: N}`` counts N times (new ids: ``_repeatK`` appended), to weigh a small set up, e.g. a
    few minutes of your own recordings beside hours of other training speech; ``{cuts: PATH, share: F}`` keeps a
    random share F (0 < F <= 1) of it, the same one every time (drawn with a fixed seed, so a resumed run trains
    on the same cuts), e.g. a quarter of those hours, to keep such a fine-tuning short."""
    if isinstance(path, Mapping):
        entry = dict(path)
        unknown = set(entry) - {"cuts", "repeat", "share"}
        repeat, share = entry.get("repeat", 1), entry.get("share", 1.0)
        if unknown or "cuts" not in entry or not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise ValueError(f"{entry}: a weighted manifest is {{cuts: PATH, repeat: N}} with N a whole number >= 1, "
                             "or {cuts: PATH, share: F} with 0 < F <= 1")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise ValueError(f"{entry}: share is the part of the manifest to keep, a number with 0 < share <= 1")
        cuts = load_cuts(entry["cuts"])
        if share < 1:
            every = list(cuts)
            keep = sorted(random.Random(0).sample(range(len(every)), max(1, round(share * len(every)))))
            cuts = CutSet.from_cuts(every[i] for i in keep)
        return cuts.repeat(repeat, preserve_id=False) if repeat > 1 else cuts
    if not isinstance(path, (str, Path)):
        paths = list(path)
        if not paths:
            raise ValueError("no cuts manifest given")
        seen: dict[str, str] = {}  # cut id -> the manifest it came from
        cuts = []
        for p in paths:
            for c in load_cuts(p):
                if c.id in seen:  # two corpora with the same speaker ids: one cut would silently shadow the other
                    raise ValueError(f"{p}: cut id {c.id!r} is also in {seen[c.id]}; combined manifests need "
                                     "distinct ids")
                seen[c.id] = str(p)
                cuts.append(c)
        return CutSet.from_cuts(cuts)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such manifest (run `asr prepare` first)")
    try:
        return CutSet.from_file(path)
    except Exception as e:  # lhotse raises many kinds on a malformed manifest
        raise ValueError(f"{path}: not a readable lhotse CutSet manifest ({e})") from e


def cut_text(cut: Any) -> str:
    return normalize_text(" ".join(s.text or "" for s in cut.supervisions))


def filter_cuts(cuts: CutSet, tokenizer: Tokenizer, subsampling_factor: int = 1, max_duration: float = 30.0,
                features: FeatureConfig = FeatureConfig(), name: str = "cuts") -> tuple[CutSet, Counter]:
    """Keep the cuts a CTC model can learn from; count every skip by reason (nothing is dropped silently)."""
    kept, skipped = [], Counter()
    for cut in cuts:
        text = cut_text(cut)
        if not text:
            skipped["empty transcript"] += 1
            continue
        bad = tokenizer.unknown_chars(text)
        if bad:
            skipped[f"characters outside the token set ({''.join(sorted(bad))})"] += 1
            log.warning("%s: skipping %s: characters outside the token set %r in %r", name, cut.id,
                        "".join(sorted(bad)), text)
            continue
        if cut.duration > max_duration:
            skipped[f"longer than {max_duration:g} s"] += 1
            continue
        out_frames = subsampled_length(features.num_frames(round(cut.duration * SAMPLE_RATE)), subsampling_factor)
        if len(text) > out_frames:
            skipped["transcript longer than the model's output frames"] += 1
            continue
        kept.append(cut)
    if skipped:
        log.warning("%s: kept %d cuts, skipped %d: %s", name, len(kept), sum(skipped.values()),
                    "; ".join(f"{n} {why}" for why, n in skipped.items()))
    return CutSet.from_cuts(kept), skipped


def load_cut_audio(cut: Any) -> torch.Tensor | None:
    """The cut's audio as 16 kHz mono float32 (channels averaged), or None (logged) if it cannot be used."""
    try:
        audio = cut.resample(SAMPLE_RATE).load_audio()  # (channels, samples)
    except Exception as e:  # noqa: BLE001 - a long run never dies on one bad utterance
        log.warning("skipping %s: cannot load its audio (%s)", cut.id, e)
        return None
    if audio.size == 0:
        log.warning("skipping %s: zero-length audio", cut.id)
        return None
    return torch.from_numpy(audio.mean(axis=0))


def sample_hours(cuts: CutSet, hours: float, seed: int = 0) -> CutSet:
    """A deterministic random sample of about ``hours`` of the cuts (all of them when they are fewer)."""
    kept, total = [], 0.0
    for cut in cuts.shuffle(random.Random(seed)):
        if total >= hours * 3600:
            break
        kept.append(cut)
        total += cut.duration
    return CutSet.from_cuts(kept)


def load_cut_waves(cuts: Any, progress: bool = False) -> CutAudio:
    """Audio, normalized transcripts and ids of ``cuts``; unloadable ones are counted skips."""
    waves, texts, ids, skipped = [], [], [], 0
    for cut in tqdm(cuts, desc="Loading audio", unit="utt", leave=False, disable=not progress):
        wave = load_cut_audio(cut)
        if wave is None:
            skipped += 1
            continue
        waves.append(wave)
        texts.append(cut_text(cut))
        ids.append(cut.id)
    return CutAudio(waves, texts, ids, skipped)


def load_eval_cuts(data: Path, subsets: list[str] | None = None) -> dict[str, CutSet]:
    """A cuts manifest, a LibriSpeech subset directory, or a directory holding subsets -> {name: cuts}."""
    data = Path(data)
    if data.is_file():
        return {data.name.removesuffix(".jsonl.gz").removeprefix("librispeech_cuts_"): load_cuts(data)}
    if not data.is_dir():
        raise FileNotFoundError(f"{data}: no such manifest or directory")
    if any(data.glob("*.trans.txt")) or any(data.glob("*/*/*.trans.txt")):  # one subset directory
        corpus_dir, subsets = data.parent, [data.name]
    else:
        corpus_dir = data / "LibriSpeech" if (data / "LibriSpeech").is_dir() else data
        subsets = subsets or find_subsets(corpus_dir)
    with tempfile.TemporaryDirectory() as tmp:
        prepare_librispeech(corpus_dir, tmp, subsets)
        return {s: CutSet.from_cuts(list(CutSet.from_file(cuts_path(tmp, s)))) for s in subsets}


def load_eval_waves(data: Path) -> tuple[list[np.ndarray], list[str]]:
    """Audio and references of every subset in ``data`` together (see :func:`load_eval_cuts`)."""
    waves, refs = [], []
    for cuts in load_eval_cuts(data).values():
        w, r, _, _ = load_cut_waves(cuts, progress=True).as_numpy()
        waves += w
        refs += r
    return waves, refs
