"""asr/corpora/game_voices.py on small .deb files built like the eight source packages: which clips are taken, the
labeller's text or the package's own as transcript, counted skips, the LibriSpeech layout that `asr prepare` reads."""

import io
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.corpora.game_voices import (
    BASS_DIR,
    FOTAQ_DATA,
    HEDGEWARS_VOICES,
    KTUBERLING_EN,
    MEGAGLEST_UNITS,
    PACKAGES,
    TUXPAINT_STAMPS,
    WARZONE_BASE,
    deb_members,
    label_clips,
    make_game_voices,
)
from asr.corpora.librispeech import prepare_librispeech
from test_fotaq_script import cut_file, dog_file, jas_files
from asr.cuts import cut_text, load_cuts

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None,
                                reason="building and reading .deb files needs dpkg-deb")

# clip duration (s) -> what the fake labeller "hears"; a clip that must not be labelled has no entry (the clips
# whose text comes from their package are 0.6 s long)
HEARD = {1.0: "Ahoy, matey!", 0.9: "You missed 2 times", 1.5: "Left click the build icon.",
         0.8: "Research completed", 0.7: " ", 1.6: "As you wish, my lord.",
         2.6: "Why?", 0.5: "Hold up! " * 5, 2.9: "The old man was trying to tell the future.",
         3.1: "Foster."}
QABCS = "usr/share/qabcs/abcs/"


def ogg(seconds: float, rate: int = 22050, fmt: str = "OGG") -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format=fmt,
             subtype={"OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}.get(fmt, "PCM_16"))
    return buf.getvalue()


def queen_1c(files: dict[str, bytes]) -> bytes:
    """A resource file in the layout of Flight of the Amazon Queen's queen.1c: the QTBL table, then the files."""
    table, data = b"", b""
    start = 15 + 21 * len(files)
    for name, content in files.items():
        table += name.encode().ljust(12, b"\0") + b"\1" + (start + len(data)).to_bytes(4, "big") \
            + len(content).to_bytes(4, "big")
        data += content
    return b"QTBLCEM10\0\0\0\1" + len(files).to_bytes(2, "big") + table + data


def sky_files(speech: dict[int, tuple[float, int]]) -> dict[str, bytes]:
    """Beneath a Steel Sky's sky.dnr and sky.dsk holding, per file number, a sine of (seconds) as RNC-packed unsigned
    8-bit PCM at 11025 Hz (one literal run), stored with ``flags`` (0: packed speech); every other file at a 16-byte
    aligned offset, addressed in 16-byte units."""
    from test_rnc import stream, table

    dnr, dsk = len(speech).to_bytes(4, "little"), b""
    for number, (seconds, flags) in speech.items():
        t = np.arange(int(seconds * 11025)) / 11025
        pcm = (128 + 60 * np.sin(2 * np.pi * 220 * t)).astype(np.uint8).tobytes()
        symbol = len(pcm).bit_length()  # the run length: 2^(symbol-1) + (symbol-1) more bits
        packed, unpacked = stream([(0, 2), *table([0] * symbol + [1]), (0, 5), (0, 5), (1, 16), (0, 1),
                                   (len(pcm) - (1 << (symbol - 1)), symbol - 1), pcm])
        assert unpacked == pcm
        data = bytes(22) + packed
        if number % 2:
            dsk += bytes(-len(dsk) % 16)
            where = (len(dsk) >> 4) | 0x800000
        else:
            where = len(dsk)
        dnr += number.to_bytes(2, "little") + where.to_bytes(3, "little") \
            + (len(data) | flags << 22).to_bytes(3, "little")
        dsk += data
    return {BASS_DIR + "sky.dnr": dnr, BASS_DIR + "sky.dsk": dsk}


def build_deb(tmp: Path, package: str, files: dict[str, bytes]) -> Path:
    root = tmp / package
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\n"
                                             "Maintainer: test <t@example.org>\nDescription: test\n")
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    deb = tmp / "debs" / f"{package}_1.0-1_all.deb"
    deb.parent.mkdir(exist_ok=True)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True,
                   capture_output=True)
    return deb


def labeller(waves: list[np.ndarray]) -> list[str]:
    return [HEARD[round(len(audio) / 16000, 1)] for audio in waves]  # KeyError: a clip that should have been left out


@pytest.fixture
def debs(tmp_path: Path) -> Path:
    build_deb(tmp_path, "hedgewars-data", {
        HEDGEWARS_VOICES + "Pirate/Hello.ogg": ogg(1.0),
        HEDGEWARS_VOICES + "Surfer/Missed.ogg": ogg(0.9),
        HEDGEWARS_VOICES + "Classic/Ow1.ogg": ogg(0.1),
        HEDGEWARS_VOICES + "Robot/Hello.ogg": ogg(1.1),  # a vocoder effect: not taken
        HEDGEWARS_VOICES + "Default_es/Hola.ogg": ogg(1.2),  # Spanish: not taken
    })
    wz = io.BytesIO()
    with zipfile.ZipFile(wz, "w") as z:
        z.writestr("audio/tutorial/tut1.ogg", ogg(1.5))
        z.writestr("audio/memressp/research/pcv1.ogg", ogg(0.8))
        z.writestr("sequenceaudio/res.ogg", ogg(0.7))
        z.writestr("sequenceaudio/bad.ogg", b"not audio")
        z.writestr("audio/sfx/boom.ogg", ogg(1.3))  # sound effects: not taken
        z.writestr("script/tutorial.js", "// no lines needed")
    build_deb(tmp_path, "warzone2100-data", {WARZONE_BASE: wz.getvalue()})
    unit = MEGAGLEST_UNITS + "magic/units/initiate/sounds/"
    build_deb(tmp_path, "megaglest-data", {
        unit + "initiate_select1.wav": ogg(1.6, fmt="WAV"),
        unit + "initiate_die1.wav": ogg(1.7, fmt="WAV"),  # a groan: not taken
        unit + "initiate_attack1.wav": ogg(1.8, fmt="WAV"),  # a battle cry: not taken
        MEGAGLEST_UNITS + "magic/sounds/spell.wav": ogg(1.9, fmt="WAV"),  # not a unit's: not taken
    })
    build_deb(tmp_path, "tuxpaint-stamps-default", {
        TUXPAINT_STAMPS + "animals/frog_desc.ogg": ogg(0.6),
        TUXPAINT_STAMPS + "animals/frog.txt": b"A frog.\nde.utf8=Ein Frosch.\n",
        TUXPAINT_STAMPS + "animals/frog_desc_fr.ogg": ogg(2.0),  # French: not taken
        TUXPAINT_STAMPS + "animals/frog.ogg": ogg(2.1),  # the frog's croak: not taken
    })
    build_deb(tmp_path, "qabcs-data", {
        QABCS + "en/sounds/words/hot_dog.ogg": ogg(0.6),
        QABCS + "en_gb/sounds/words/doughnut.ogg": ogg(0.6),
        QABCS + "en/sounds/alpha/k.ogg": ogg(2.2),  # a letter's name: not taken
        QABCS + "de/sounds/words/hund.ogg": ogg(2.3),  # German: not taken
    })
    build_deb(tmp_path, "ktuberling-data", {
        KTUBERLING_EN + "pizzeria_olive.ogg": ogg(0.6),
        KTUBERLING_EN.replace("/en/", "/de/") + "pizzeria_olive.ogg": ogg(2.4),  # German: not taken
    })
    build_deb(tmp_path, "flight-of-the-amazon-queen", {FOTAQ_DATA: queen_1c({
        "020006J1.SB": ogg(2.5, 11025, "MP3"),  # Joe, in dialogue 02: the game's script has his line
        "200034P5.SB": ogg(2.6, 11025, "MP3"),  # the other side of dialogue 20
        "C1A__051.SB": ogg(2.7, 11025, "MP3"),  # a cutaway scene: the script's text of its 5th object
        "C1A.CUT": cut_file(["*", "*", "*", "*", "Good luck, Joe.*00"]),
        "BAT.SAM": ogg(2.8, 11025, "MP3"),  # a sound effect: not taken
        "AND1.DOG": dog_file(2, joe={6: "Do you sell *FRcomic books?*03"}, person={}),  # not audio: its text
        "APE.DOG": dog_file(20, joe={}, person={0x34: "Why?"})[:-12],  # broken: dialogue 20 is labelled
        "JOE00411.SB": ogg(2.4, 11025, "MP3"),  # Joe's remark on a thing: the script's description 1
        **jas_files(["A rare green finned Amazon trout.*24"], [f"answer {i}" for i in range(1, 41)]),
    })})
    build_deb(tmp_path, "beneath-a-steel-sky", sky_files({
        50012: (2.9, 0),  # speech, section 50
        53001: (3.1, 0),  # speech, section 53, at an offset in 16-byte units
        53002: (3.3, 2),  # stored unpacked (flags bit 23): not speech
        59002: (3.5, 0),  # not a speech section: not taken
        60001: (3.7, 0),  # graphics: not taken
    }))
    return tmp_path / "debs"


@needs_dpkg
def test_game_voices_layout_and_skips(debs: Path, tmp_path: Path) -> None:
    out = tmp_path / "games"
    subset = make_game_voices(out, labeller, debs, packages=PACKAGES)
    assert subset == out / "LibriSpeech" / "train-games"
    texts = {p.name: p.read_text().split("\n")[0] for p in subset.glob("*/*/*.trans.txt")}
    assert texts == {"9107-91070.trans.txt": "9107-91070-0000 AHOY MATEY",  # Pirate is the 7th pack
                     "9201-92010.trans.txt": "9201-92010-0000 LEFT CLICK THE BUILD ICON",
                     "9202-92020.trans.txt": "9202-92020-0000 RESEARCH COMPLETED",
                     "9301-93010.trans.txt": "9301-93010-0000 AS YOU WISH MY LORD",
                     "9401-94010.trans.txt": "9401-94010-0000 A FROG",  # the stamp's English line
                     "9501-95010.trans.txt": "9501-95010-0000 HOT DOG",  # file names
                     "9502-95020.trans.txt": "9502-95020-0000 DOUGHNUT",
                     "9601-96010.trans.txt": "9601-96010-0000 OLIVE",  # without the theme
                     "9701-97010.trans.txt": "9701-97010-0000 DO YOU SELL",  # the script's (its 1st segment)
                     "9702-97020.trans.txt": "9702-97020-0000 GOOD LUCK JOE",
                     "9820-98200.trans.txt": "9820-98200-0000 WHY",
                     "9950-99500.trans.txt": "9950-99500-0000 THE OLD MAN WAS TRYING TO TELL THE FUTURE",
                     "9953-99530.trans.txt": "9953-99530-0000 FOSTER"}
    assert (subset / "9701" / "97010" / "9701-97010.trans.txt").read_text().split("\n")[1] \
        == "9701-97010-0001 A RARE GREEN FINNED AMAZON TROUT"
    audio, rate = sf.read(subset / "9201" / "92010" / "9201-92010-0000.flac")
    assert rate == 16000 and abs(len(audio) / rate - 1.5) < 0.05
    report = prepare_librispeech(out, out / "manifests", ["train-games"])
    assert (out / "manifests" / "librispeech_cuts_train-games.jsonl.gz").is_file() and report
    # idempotent: a second call labels nothing
    assert make_game_voices(out, lambda waves: pytest.fail("labelled again"), debs, packages=PACKAGES) == subset
    # made from eight packages: asking for two is an error that names the subset, not the eight-package subset
    with pytest.raises(ValueError, match=r"train-games: made from \['beneath-a-steel-sky'.*not \['hedgewars-data', "
                                         r"'warzone2100-data'\]"):
        make_game_voices(out, labeller, debs)


def test_label_clips_counts_each_skip() -> None:
    clips = [(1, "short.ogg", ogg(0.1), None), (2, "digits.ogg", ogg(0.9), None), (3, "silent.ogg", ogg(0.7), None),
             (4, "broken.ogg", b"RIFF nonsense", None), (5, "good.ogg", ogg(1.0), None),
             (6, "named.ogg", ogg(0.6), "x-ray"), (7, "number.ogg", ogg(0.6), "route 66"),
             (8, "looped.ogg", ogg(0.5), None)]
    kept, skipped = label_clips(clips, labeller)
    assert [(s, name, text) for s, name, _, text in kept] == [(5, "good.ogg", "AHOY MATEY"), (6, "named.ogg", "X RAY")]
    assert skipped == {"shorter than 0.3 s": 1, "characters outside the alphabet (digits)": 2,
                       "no words heard": 1, "unreadable audio": 1,
                       "text too long for the clip (a labeller's loop)": 1}


@needs_dpkg
def test_chosen_packages_only(debs: Path, tmp_path: Path) -> None:
    subset = make_game_voices(tmp_path / "one", labeller, debs, packages=("qabcs-data",))
    assert sorted(p.name for p in subset.glob("*/*/*.trans.txt")) == ["9501-95010.trans.txt", "9502-95020.trans.txt"]
    with pytest.raises(ValueError, match=r"unknown source package\(s\) \['wesnoth-data'\]"):
        make_game_voices(tmp_path / "two", labeller, debs, packages=("wesnoth-data",))


@needs_dpkg
def test_a_share_of_the_clips_is_fixed_and_kept_in_the_marker(debs: Path, tmp_path: Path) -> None:
    """share < 1: the same random share on every run (seed 0), fewer clips labelled; the marker keeps it."""
    heard: list[int] = []

    def counting(waves: list[np.ndarray]) -> list[str]:
        heard.append(len(waves))
        return labeller(waves)

    def texts(subset: Path) -> list[str]:
        return sorted(line for p in subset.glob("*/*/*.trans.txt") for line in p.read_text().splitlines())

    every = texts(make_game_voices(tmp_path / "all", labeller, debs, packages=PACKAGES))
    half = make_game_voices(tmp_path / "half", counting, debs, packages=PACKAGES, share=0.5)
    assert 0 < len(texts(half)) < len(every) and 0 < sum(heard) < 11  # all of them: 11 clips for the labeller
    again = make_game_voices(tmp_path / "again", labeller, debs, packages=PACKAGES, share=0.5)
    assert texts(again) == texts(half)
    with pytest.raises(ValueError, match=r"made from \[.*'share=0.5'\], not \[.*'warzone2100-data'\]"):
        make_game_voices(tmp_path / "half", labeller, debs, packages=PACKAGES)
    with pytest.raises(ValueError, match="share must be in"):
        make_game_voices(tmp_path / "none", labeller, debs, share=0)


def test_queen_1c_table_is_read_and_a_broken_one_named() -> None:
    from asr.corpora.game_voices import fotaq_table

    data = queen_1c({"020006J1.SB": b"abc", "AND1.DOG": b"de"})
    table = fotaq_table(data)
    assert {name: data[o:o + n] for name, (o, n) in table.items()} == {"020006J1.SB": b"abc", "AND1.DOG": b"de"}
    with pytest.raises(ValueError, match="not a queen.1c resource file"):
        fotaq_table(b"RIFF....")
    with pytest.raises(ValueError, match="AND1.DOG runs past the end"):
        fotaq_table(data[:-1])
    with pytest.raises(ValueError, match="shorter than its table of 2 entries"):
        fotaq_table(data[:30])


@needs_dpkg
def test_not_a_deb_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "hedgewars-data_1_all.deb"
    bad.write_bytes(b"not a deb")
    with pytest.raises(ValueError, match="hedgewars-data_1_all.deb: not a readable .deb"):
        list(deb_members(bad))


@needs_dpkg
def test_deb_members_streams_only_the_kept_files_and_a_caller_may_stop_early(tmp_path: Path) -> None:
    """A game's data archive is hundreds of MB: only the files the caller keeps are read into memory, and a caller
    that stops at the file it wanted ends dpkg-deb (blocked on a full pipe) instead of waiting for it forever."""
    import threading

    big = np.random.default_rng(0).bytes(4 << 20)  # far more than a pipe holds, after the wanted file
    deb = build_deb(tmp_path, "bigdata", {"usr/share/a/first.ogg": b"one", "usr/share/z/big.bin": big,
                                          "usr/share/z/last.ogg": b"two"})
    kept = list(deb_members(deb, lambda path: path.endswith(".ogg")))
    assert kept == [("usr/share/a/first.ogg", b"one"), ("usr/share/z/last.ogg", b"two")]
    assert dict(deb_members(deb))["usr/share/z/big.bin"] == big  # everything by default

    result = []
    reader = threading.Thread(target=lambda: result.append(next(deb_members(deb))), daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert not reader.is_alive(), "stopping after the first file hung on dpkg-deb"
    assert result and result[0][0].startswith("usr/share/")


@needs_dpkg
def test_tool_writes_a_repeated_manifest_that_trains_beside_others(debs: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """tools/make_game_voices.py --repeat 3: each cut three times under distinct ids, which load_cuts combines."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    import make_game_voices as tool

    monkeypatch.setattr(tool, "whisper_labeller", lambda threads: labeller)  # no Whisper: the stand-in labeller
    out = tmp_path / "games"
    assert tool.main([str(out), "--deb-dir", str(debs), "--repeat", "3"]) == 0  # the default: two packages
    manifests = out / "manifests"
    single = load_cuts(manifests / "librispeech_cuts_train-games.jsonl.gz")
    repeated = load_cuts([manifests / "cuts_train-games_x3.jsonl.gz"])  # a list: the combining path, id checks on
    assert len(single) == 3 and len(repeated) == 9
    assert Counter(cut_text(c) for c in repeated) == {cut_text(c): 3 for c in single}
