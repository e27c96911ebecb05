"""Your own recordings with their transcripts -> lhotse manifests, to score a model on them (`asr evaluate`), tune
its decoding (`asr tune`) or fine-tune it (`asr train init_from=... data.train_cuts=[...]`).

The list is a text file, one utterance per line: ``audio path<TAB>transcript``, paths relative to ``audio_dir``
(default: the list's own directory). A first line that names its columns makes it a TSV with a header instead: the
columns ``path`` and one of ``sentence`` / ``text`` / ``transcript``, optionally ``speaker`` or ``client_id`` (so
Common Voice's ``validated.tsv`` reads as it is, with ``audio_dir`` its ``clips`` directory). Any audio format that
libsndfile reads, any sample rate (resampled to 16 kHz when loaded), mono or several channels (averaged).

A directory instead of a list: every audio file below it with its transcript beside it in a text file of the same
name (``spk1/001.wav`` + ``spk1/001.txt`` or ``.lab``: the layout of Montreal Forced Aligner corpora and of many
recording apps); an audio file without one, or with a ``.txt`` and a ``.lab`` that disagree, is a counted skip.

Transcripts are normalized as everywhere in asr (``asr.text.normalize_text``). A line without a transcript, a
missing or unreadable audio file, a repeated file or a transcript with characters outside the token set (digits:
write numbers as words) is a counted skip with its reason (``skipped_<name>.tsv``), never a crash; nothing usable
at all is an error naming the list."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
from lhotse import CutSet, Recording, SupervisionSegment
from tqdm.auto import tqdm

from asr.atomic import write_text_atomic
from asr.audio import AUDIO_EXTENSIONS, SAMPLE_RATE, find_audio_files
from asr.corpora.manifests import PrepareReport, write_manifests
from asr.text import Tokenizer, UnknownCharacterError, normalize_text

log = logging.getLogger(__name__)
TEXT_COLUMNS = ("sentence", "text", "transcript")
TRANSCRIPT_SUFFIXES = (".txt", ".lab")  # a directory's transcripts, beside their audio files
SPEAKER_COLUMNS = ("speaker", "client_id")


@dataclass(frozen=True)
class Entry:
    where: str  # where the transcript was found: "line 3" of the list, or the transcript file
    audio: Path
    text: str  # as written: the list's column, or the transcript file with its lines joined
    speaker: str | None = None


def manifest_names(name: str) -> dict[str, str]:
    """The manifests' file names for the list called ``name``: cuts_<name>.jsonl.gz etc."""
    return {kind: f"{kind}_{name}.jsonl.gz" for kind in ("recordings", "supervisions", "cuts")}


def read_list(list_file: Path, audio_dir: Path, report: PrepareReport) -> list[Entry]:
    """The list's entries; a line that is not ``path<TAB>text`` (or lacks the header's columns) is a counted skip."""
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{list_file}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    columns = [c.strip().lower() for c in lines[0].split("\t")] if lines else []
    header = "path" in columns and any(c in columns for c in TEXT_COLUMNS)
    path_col = columns.index("path") if header else 0
    text_col = next(columns.index(c) for c in TEXT_COLUMNS if c in columns) if header else 1
    speaker_col = next((columns.index(c) for c in SPEAKER_COLUMNS if c in columns), None) if header else None
    entries = []
    for number, line in enumerate(lines[1:] if header else lines, 2 if header else 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) <= max(path_col, text_col) or not fields[path_col].strip():
            report.skipped[f"line {number}"] = "not an audio path, a tab and a transcript"
            continue
        speaker = fields[speaker_col].strip() if speaker_col is not None and speaker_col < len(fields) else None
        entries.append(Entry(f"line {number}", audio_dir / fields[path_col].strip(), fields[text_col],
                             speaker or None))
    return entries


def read_sidecars(directory: Path, report: PrepareReport) -> list[Entry]:
    """Every audio file below ``directory`` with its transcript file beside it (same name, .txt or .lab)."""
    entries = []
    files = find_audio_files(directory)
    by_stem = defaultdict(list)
    for audio in files:
        by_stem[audio.with_suffix("")].append(audio.name)
    for audio in files:
        name = audio.relative_to(directory).as_posix()
        namesakes = by_stem[audio.with_suffix("")]
        if len(namesakes) > 1:  # a.wav and a.flac: one transcript, one utterance id, two recordings
            report.skipped[name] = (f"another audio file has its name ({', '.join(namesakes)}): which one the "
                                    "transcript is of cannot be told; keep one")
            continue
        texts = {}
        for suffix in TRANSCRIPT_SUFFIXES:
            path = audio.with_suffix(suffix)
            if path.is_file():
                try:
                    texts[path] = " ".join(path.read_text(encoding="utf-8").split())
                except UnicodeDecodeError as e:
                    report.skipped[name] = f"{path.name}: not UTF-8 text ({e.reason} at byte {e.start})"
                    break
        else:
            if not texts:
                report.skipped[name] = "no transcript beside it (" + " or ".join(
                    audio.with_suffix(s).name for s in TRANSCRIPT_SUFFIXES) + ")"
            elif len(set(texts.values())) > 1:
                report.skipped[name] = f"two transcripts that differ ({', '.join(p.name for p in texts)})"
            else:
                path, text = next(iter(texts.items()))
                entries.append(Entry(path.relative_to(directory).as_posix(), audio, text))
    return entries


def utterance_id(entry: Entry, audio_dir: Path) -> str:
    """The audio file's path below ``audio_dir`` without its suffix, '/' -> '_' (spk1/001.wav -> spk1_001); an
    absolute path elsewhere: all of it (/data/a/001.wav -> data_a_001)."""
    try:
        relative = entry.audio.relative_to(audio_dir)
    except ValueError:  # an absolute path elsewhere
        relative = entry.audio.relative_to(entry.audio.anchor) if entry.audio.is_absolute() else entry.audio
    return "_".join(p for p in relative.with_suffix("").parts if p not in ("..", "."))


def _parse(entry: Entry, utt_id: str, tokenizer: Tokenizer) -> tuple[Recording, SupervisionSegment] | str:
    """(recording, supervision) of one entry, or the reason it is skipped."""
    text = normalize_text(entry.text)
    if not text:
        return "empty transcript"
    try:
        tokenizer.encode(text)
    except UnknownCharacterError as e:
        return f"transcript has characters outside the token set ({e}); write numbers as words"
    if not entry.audio.is_file():
        return f"audio file missing: {entry.audio}"
    try:
        recording = Recording.from_file(entry.audio.resolve(), recording_id=utt_id)  # readable from anywhere
    except Exception as e:  # noqa: BLE001 - any unreadable file is a counted skip with its reason
        try:  # libsndfile's own words where it is the reader that failed (lhotse's message lists every backend)
            sf.info(str(entry.audio))
            why = " ".join(str(e).split())
        except Exception as sf_error:  # noqa: BLE001
            why = str(sf_error)
        return f"unreadable audio: {why}"
    if recording.num_samples == 0 or recording.duration <= 0:
        return f"zero-length audio: {entry.audio}"
    if recording.sampling_rate != SAMPLE_RATE:  # resampled when loaded: training's noise and rooms are 16 kHz
        recording = recording.resample(SAMPLE_RATE)
    channel = list(recording.channel_ids) if recording.num_channels > 1 else 0
    return recording, SupervisionSegment(id=utt_id, recording_id=utt_id, start=0.0, duration=recording.duration,
                                         channel=channel, text=text, speaker=entry.speaker, language="English")


def _directory_digest(directory: Path) -> bytes:
    """What a directory's manifests are made from: its audio files' names, sizes and times, its transcripts."""
    h = hashlib.sha256()  # only these: manifests written inside the directory do not make it new
    for path in sorted(directory.rglob("*")):
        if path.suffix.lower() in AUDIO_EXTENSIONS | set(TRANSCRIPT_SUFFIXES) and path.is_file():
            stat = path.stat()
            h.update(f"{path.relative_to(directory).as_posix()}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
            if path.suffix in TRANSCRIPT_SUFFIXES:
                h.update(path.read_bytes())
    return h.digest()


def prepare_list(source: str | Path, output_dir: str | Path, name: str | None = None,
                 audio_dir: str | Path | None = None, num_jobs: int = 2) -> PrepareReport:
    """Write ``output_dir``/cuts_<name>.jsonl.gz (and its recordings and supervisions; ``name`` defaults to the
    list's file name without suffix, or the directory's name) from a list file or a directory of audio files with
    transcripts beside them. Idempotent: done again only when the list, the audio directory or (given a directory)
    its files changed."""
    source, output_dir = Path(source), Path(output_dir)
    if source.is_dir():
        if audio_dir:
            raise ValueError(f"{source}: --audio-dir is for a list file; a directory's audio is in it")
        name, audio_dir = name or source.resolve().name, source
        digest = hashlib.sha256(_directory_digest(source) + str(source.resolve()).encode()).hexdigest()
    elif source.is_file():
        name = name or source.stem
        audio_dir = Path(audio_dir) if audio_dir else source.parent
        digest = hashlib.sha256(source.read_bytes() + str(audio_dir.resolve()).encode()).hexdigest()
    else:
        raise FileNotFoundError(f"{source}: no such list file or directory")
    done = output_dir / f".list_{name}.done"
    cuts_file = output_dir / manifest_names(name)["cuts"]
    if done.is_file() and done.read_text().strip() == digest and cuts_file.is_file():
        log.info("%s: already prepared, skipping", source)
        cuts = CutSet.from_file(cuts_file)
        return PrepareReport(name, len(cuts), sum(c.duration for c in cuts) / 3600)
    report = PrepareReport(name)
    entries = read_sidecars(source, report) if source.is_dir() else read_list(source, audio_dir, report)
    seen, ids, work = {}, set(), []
    for entry in entries:
        utt_id, same = utterance_id(entry, audio_dir), entry.audio.resolve()
        if same in seen:
            report.skipped[f"{utt_id} ({entry.where})"] = f"the same audio as {seen[same]}"
            continue
        if utt_id in ids:  # another file with the same name (a/b_c.wav, a_b/c.wav): the line number tells them apart
            utt_id = f"{utt_id}_{entry.where.replace(' ', '').replace('/', '_')}"
        seen[same] = entry.where
        ids.add(utt_id)
        work.append((entry, utt_id))
    tokenizer = Tokenizer()
    recordings, supervisions = [], []
    with ThreadPoolExecutor(num_jobs) as ex:
        results = ex.map(lambda item: _parse(item[0], item[1], tokenizer), work)
        for (entry, utt_id), result in tqdm(zip(work, results), total=len(work), desc=f"Preparing {name}",
                                            unit="utt"):
            if isinstance(result, str):
                report.skipped[f"{utt_id} ({entry.where})"] = result
                log.warning("%s: skipping %s: %s", source, entry.where, result)
            else:
                recordings.append(result[0])
                supervisions.append(result[1])
    output_dir.mkdir(parents=True, exist_ok=True)
    write_manifests(output_dir, manifest_names(name), source, recordings, supervisions, report)
    write_text_atomic(done, digest + "\n")
    return report
