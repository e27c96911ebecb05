"""Transcript output formats: text, JSON, SRT and WebVTT subtitles (cues of a few words, cut at pauses)."""

from __future__ import annotations

import json
from dataclasses import asdict

FORMATS = ("text", "json", "srt", "vtt")
EXTENSIONS = {"text": "txt", "json": "json", "srt": "srt", "vtt": "vtt"}
CONTENT_TYPES = {"json": "application/json", "text": "text/plain; charset=utf-8",
                 "srt": "application/x-subrip; charset=utf-8", "vtt": "text/vtt; charset=utf-8"}  # HTTP answers


def _clock(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def cues(words: list, max_seconds: float = 6.0, max_chars: int = 42, pause: float = 0.8) -> list[tuple]:
    """Group words into subtitle cues: (start, end, text); a new cue after a pause or when one gets too long."""
    out, current = [], []
    for word in words:
        if current and (word.start - current[-1].end >= pause or word.end - current[0].start > max_seconds
                        or len(" ".join(w.text for w in current)) + 1 + len(word.text) > max_chars):
            out.append((current[0].start, current[-1].end, " ".join(w.text for w in current)))
            current = []
        current.append(word)
    if current:
        out.append((current[0].start, current[-1].end, " ".join(w.text for w in current)))
    return out


def render(transcript, fmt: str) -> str:
    """One transcript (``asr.transcribe.Transcript``) in ``fmt``; ends with a newline."""
    if fmt == "text":
        return transcript.text + "\n"
    if fmt == "json":
        return json.dumps(asdict(transcript)) + "\n"
    if fmt == "srt":
        return "".join(f"{i}\n{_clock(a, ',')} --> {_clock(b, ',')}\n{text}\n\n"
                       for i, (a, b, text) in enumerate(cues(transcript.words), 1))
    if fmt == "vtt":
        return "WEBVTT\n\n" + "".join(f"{_clock(a, '.')} --> {_clock(b, '.')}\n{text}\n\n"
                                      for a, b, text in cues(transcript.words))
    raise ValueError(f"unknown format {fmt!r}: choose {', '.join(FORMATS)}")
