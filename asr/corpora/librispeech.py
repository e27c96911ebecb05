"""LibriSpeech-layout corpora -> lhotse manifests, on lhotse's LibriSpeech recipe.

``prepare_librispeech`` here uses lhotse's own per-utterance parser (``lhotse.recipes.librispeech.parse_utterance``)
and manifest writers, but wraps each utterance so that one unreadable file is a counted skip with a reason instead
of a crash of the whole preparation (lhotse's ``prepare_librispeech`` raises on the first bad file).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lhotse import CutSet
from lhotse.recipes.librispeech import parse_utterance
from tqdm.auto import tqdm

from asr.corpora.manifests import PrepareReport, write_manifests

log = logging.getLogger(__name__)
PREFIX = "librispeech"


def cuts_path(manifest_dir: str | Path, subset: str) -> Path:
    return Path(manifest_dir) / f"{PREFIX}_cuts_{subset}.jsonl.gz"


def is_librispeech_layout(path: Path) -> bool:
    """A directory holding LibriSpeech/, or *.trans.txt files somewhere below it (not a list, nor a directory of
    your own recordings with transcripts beside the audio)."""
    return path.is_dir() and ((path / "LibriSpeech").is_dir() or any(path.rglob("*.trans.txt")))


def find_subsets(corpus_dir: Path) -> list[str]:
    return sorted(p.name for p in corpus_dir.iterdir() if p.is_dir() and any(p.rglob("*.trans.txt")))


def _parse(subset_dir: Path, line: str) -> tuple[str, object]:
    utt_id = line.split(maxsplit=1)[0] if line.strip() else "<empty line>"
    try:
        if len(line.split(maxsplit=1)) < 2:
            return utt_id, "no transcript on its line"
        result = parse_utterance(subset_dir, line, {})
        if result is None:
            return utt_id, "audio file missing"
        recording, segment = result
        if recording.num_samples == 0 or recording.duration <= 0:
            return utt_id, "zero-length audio"
        if recording.num_channels > 1:  # used as mono: the loader averages the channels
            segment.channel = list(recording.channel_ids)
        return utt_id, (recording, segment)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a counted skip with its reason
        return utt_id, f"unreadable audio: {' '.join(str(e).split())}"  # one line: it goes to a TSV


def _transcript_lines(subset_dir: Path, report: PrepareReport) -> list[tuple[str, Path]]:
    """Every non-blank transcript line of a subset; a line that is not UTF-8 and a repeated utterance id (after its
    first line) are counted skips with the reason."""
    lines, seen = [], {}
    for path in sorted(subset_dir.rglob("*.trans.txt")):
        for number, raw in enumerate(path.read_bytes().splitlines(), 1):
            if not raw.strip():
                continue
            utt_id = raw.split(maxsplit=1)[0].decode("utf-8", errors="replace")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                report.skipped[f"{utt_id} ({path.name}:{number})"] = f"transcript is not UTF-8 ({e.reason} at byte " \
                                                                    f"{e.start})"
                continue
            if utt_id in seen:
                report.skipped[f"{utt_id} ({path.name}:{number})"] = f"duplicate id (first on line {seen[utt_id]})"
                continue
            seen[utt_id] = number
            lines.append((line, path))
    return lines


def prepare_librispeech(corpus_dir: str | Path, output_dir: str | Path, subsets: list[str] | None = None,
                        num_jobs: int = 2) -> list[PrepareReport]:
    """Write recordings / supervisions / cuts manifests per subset; idempotent (a done-marker per subset)."""
    corpus_dir, output_dir = Path(corpus_dir), Path(output_dir)
    if (corpus_dir / "LibriSpeech").is_dir():
        corpus_dir = corpus_dir / "LibriSpeech"
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"{corpus_dir}: no such corpus directory")
    subsets = subsets or find_subsets(corpus_dir)
    if not subsets:
        raise ValueError(f"{corpus_dir}: no subset with *.trans.txt files found")
    output_dir.mkdir(parents=True, exist_ok=True)
    reports = []
    for subset in subsets:
        subset_dir = corpus_dir / subset
        done = output_dir / f".{PREFIX}_{subset}.done"
        if done.exists():
            log.info("%s: already prepared, skipping", subset)
            cuts = CutSet.from_file(cuts_path(output_dir, subset))
            reports.append(PrepareReport(subset, len(cuts), sum(c.duration for c in cuts) / 3600))
            continue
        if not subset_dir.is_dir():
            raise FileNotFoundError(f"{subset_dir}: no such subset directory")
        report = PrepareReport(subset)
        lines = _transcript_lines(subset_dir, report)
        recordings, supervisions = [], []
        with ThreadPoolExecutor(num_jobs) as ex:
            results = ex.map(lambda lp: _parse(subset_dir, lp[0]), lines)
            for utt_id, result in tqdm(results, total=len(lines), desc=f"Preparing {subset}", unit="utt"):
                if isinstance(result, str):
                    report.skipped[utt_id] = result
                    log.warning("%s: skipping %s: %s", subset, utt_id, result)
                else:
                    recordings.append(result[0])
                    supervisions.append(result[1])
        write_manifests(output_dir, {kind: f"{PREFIX}_{kind}_{subset}.jsonl.gz" for kind in
                                     ("recordings", "supervisions", "cuts")}, subset_dir, recordings, supervisions,
                        report)
        done.touch()
        reports.append(report)
    return reports
