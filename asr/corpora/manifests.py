"""Writing a part of a corpus as lhotse manifests (recordings, supervisions, cuts), with the utterances that could
not be used listed beside them: shared by LibriSpeech-layout directories (librispeech.py) and lists of your own
recordings (audio_list.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lhotse import CutSet, RecordingSet, SupervisionSet, fix_manifests, validate_recordings_and_supervisions

from asr.atomic import atomic_path, write_text_atomic


@dataclass
class PrepareReport:
    subset: str
    utterances: int = 0
    hours: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)  # utterance id -> reason


def write_manifests(output_dir: Path, names: dict[str, str], source: Path, recordings: list, supervisions: list,
                    report: PrepareReport) -> CutSet:
    """Write the three manifests (each atomically) under ``output_dir`` with the file names ``names`` gives for
    recordings / supervisions / cuts, and ``skipped_<subset>.tsv`` (id, reason) when something was skipped; fill in
    the report. ``source`` names the input in the error raised when nothing is usable."""
    if not recordings:
        raise ValueError(f"{source}: no usable utterance ({len(report.skipped)} skipped)")
    recording_set, supervision_set = fix_manifests(RecordingSet.from_recordings(recordings),
                                                   SupervisionSet.from_segments(supervisions))
    validate_recordings_and_supervisions(recording_set, supervision_set)
    cuts = CutSet.from_manifests(recordings=recording_set, supervisions=supervision_set)
    for kind, manifest in (("recordings", recording_set), ("supervisions", supervision_set), ("cuts", cuts)):
        with atomic_path(output_dir / names[kind]) as tmp:
            manifest.to_file(tmp)
    skipped = output_dir / f"skipped_{report.subset}.tsv"
    if report.skipped:
        write_text_atomic(skipped, "".join(f"{utt}\t{why}\n" for utt, why in sorted(report.skipped.items())))
    else:  # from an earlier run, of input since mended
        skipped.unlink(missing_ok=True)
    report.utterances = len(cuts)
    report.hours = sum(c.duration for c in cuts) / 3600
    return cuts


def summarize(reports: list[PrepareReport]) -> str:
    lines = []
    for r in reports:
        reasons = Counter(r.skipped.values())
        skip = f", skipped {len(r.skipped)} ({'; '.join(f'{n}x {why}' for why, n in reasons.items())})" \
            if r.skipped else ""
        lines.append(f"{r.subset}: {r.utterances} utterances, {r.hours:.2f} h{skip}")
    return "\n".join(lines)
