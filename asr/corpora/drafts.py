"""Draft transcripts for your own untranscribed recordings, written beside them (``NAME.txt``) for you to read and
correct before `asr prepare DIR` or recipes/adapt/run.sh use them.

The labeller is any speech recognizer (tools/draft_transcripts.py uses Whisper tiny.en, a benchmark peer, never a
runtime dependency). Why not the model being adapted: its own transcripts of a voice it does not know are mostly
wrong, and fine-tuning on them makes it surer of its mistakes (recipes/en/RESULTS.md, "Without transcripts": the
beam's WER on the speaker +2.3 points, against -45 with Whisper's). A transcript already there (yours, or a draft you
corrected) is never overwritten unless asked."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from tqdm.auto import tqdm

from asr.atomic import write_text_atomic
from asr.audio import AUDIO_EXTENSIONS, find_audio_files, load_audio
from asr.corpora.audio_list import TRANSCRIPT_SUFFIXES
from asr.corpora.game_voices import Labeller
from asr.corpora.real_dev import clean_transcript

log = logging.getLogger(__name__)


def draft_transcripts(directory: str | Path, labeller: Labeller, overwrite: bool = False) -> Counter:
    """NAME.txt beside every audio file below ``directory`` that has no transcript yet (``overwrite``: every one),
    normalized as training text is (no punctuation, fillers such as "uh" left out). Returns counts: "written",
    "kept" (a transcript was there), and the reasons for files left without one (unreadable, nothing heard)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such directory")
    audio_files = find_audio_files(directory)
    if not audio_files:
        raise ValueError(f"{directory}: no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))})")
    counts: Counter = Counter()
    for path in tqdm(audio_files, desc="Drafting transcripts", unit="file"):
        if not overwrite and any(path.with_suffix(s).is_file() for s in TRANSCRIPT_SUFFIXES):
            counts["kept"] += 1
            continue
        try:
            audio = load_audio(path)
        except Exception as e:  # noqa: BLE001 - one broken file does not end the run
            log.warning("%s: no draft, unreadable (%s)", path, e)
            counts["unreadable audio"] += 1
            continue
        text = clean_transcript(labeller([audio])[0])
        if not text:
            counts["nothing heard"] += 1
            continue
        write_text_atomic(path.with_suffix(".txt"), text + "\n")
        counts["written"] += 1
    return counts
