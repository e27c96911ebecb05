"""`asr prepare LIST OUT` (or a directory of audio files with transcripts beside them): your own recordings and
transcripts -> lhotse manifests that `asr evaluate`, `asr tune` and `asr train` read; every bad line or file a counted
skip with its reason."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from lhotse import CutSet

from asr.cli import main
from asr.cuts import load_cut_audio

SMALL_MODEL = Path(__file__).parent / "data" / "small_model"


def _tone(path: Path, seconds: float, sr: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    wave = 0.1 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    sf.write(path, np.stack([wave] * channels, axis=1) if channels > 1 else wave, sr)
    return path


@pytest.fixture
def recordings(tmp_path):
    d = tmp_path / "mine"
    _tone(d / "a.wav", 1.0)
    _tone(d / "spk1" / "b.flac", 1.5, sr=44100, channels=2)
    _tone(d / "c.wav", 0.5)
    _tone(d / "d.wav", 0.5)
    (d / "broken.wav").write_bytes(b"RIFF not really a wave file")
    (d / "list.tsv").write_text(
        "a.wav\tHello, world!\n"                  # kept: normalized to HELLO WORLD
        "spk1/b.flac\tIt's a \u201cstereo\u201d one\n"  # kept: 44.1 kHz stereo
        "missing.wav\tWHERE IS IT\n"
        "c.wav\tI have 3 cats\n"                  # a digit
        "a.wav\tHELLO AGAIN\n"                    # the same audio again
        "broken.wav\tBROKEN\n"
        "d.wav\t?!\n"                             # nothing left once normalized
        "just one field\n"
        "\n")
    return d


def test_a_list_becomes_manifests_with_counted_skips(recordings, tmp_path, capsys):
    out = tmp_path / "manifests"
    assert main(["prepare", str(recordings / "list.tsv"), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "list: 2 utterances" in printed and "skipped 6" in printed
    assert str(out / "cuts_list.jsonl.gz") in printed
    cuts = {c.supervisions[0].id: c for c in CutSet.from_file(out / "cuts_list.jsonl.gz")}
    assert {k: c.supervisions[0].text for k, c in cuts.items()} == {"a": "HELLO WORLD", "spk1_b": "IT'S A STEREO ONE"}
    stereo = cuts["spk1_b"]
    assert stereo.duration == pytest.approx(1.5) and stereo.recording.sampling_rate == 16000  # 44.1 kHz on disk
    assert load_cut_audio(stereo).shape == (24000,)  # averaged to mono, resampled to 16 kHz
    skipped = dict(line.split("\t") for line in (out / "skipped_list.tsv").read_text().splitlines())
    assert skipped["missing (line 3)"].startswith("audio file missing")
    assert "outside the token set" in skipped["c (line 4)"]
    assert skipped["a (line 5)"] == "the same audio as line 1"
    assert skipped["broken (line 6)"].startswith("unreadable audio") and "broken.wav" in skipped["broken (line 6)"]
    assert "Format not recognised" in skipped["broken (line 6)"] and len(skipped["broken (line 6)"]) < 200
    assert skipped["d (line 7)"] == "empty transcript"
    assert skipped["line 8"] == "not an audio path, a tab and a transcript"
    # scored as it is: `asr evaluate` reads the manifest
    assert main(["evaluate", str(SMALL_MODEL), str(out / "cuts_list.jsonl.gz"), "--output-dir",
                 str(tmp_path / "eval")]) == 0
    assert "utterances 2 (skipped 0)" in capsys.readouterr().out
    rows = (tmp_path / "eval" / "cuts_list.greedy.per_utt.tsv").read_text().splitlines()[1:]
    assert sorted(r.split("\t")[4] for r in rows) == ["HELLO WORLD", "IT'S A STEREO ONE"]


def test_prepared_again_only_when_the_list_changes(recordings, tmp_path, capsys):
    out, listing = tmp_path / "manifests", recordings / "list.tsv"
    assert main(["prepare", str(listing), str(out), "--name", "mine"]) == 0
    first = (out / "cuts_mine.jsonl.gz").stat().st_mtime_ns
    assert main(["prepare", str(listing), str(out), "--name", "mine"]) == 0
    assert (out / "cuts_mine.jsonl.gz").stat().st_mtime_ns == first
    listing.write_text("a.wav\tHELLO\nc.wav\tTHREE CATS\n")
    capsys.readouterr()
    assert main(["prepare", str(listing), str(out), "--name", "mine"]) == 0
    assert "mine: 2 utterances, 0.00 h\n" in capsys.readouterr().out
    texts = {c.supervisions[0].id: c.supervisions[0].text for c in CutSet.from_file(out / "cuts_mine.jsonl.gz")}
    assert texts == {"a": "HELLO", "c": "THREE CATS"}
    assert not (out / "skipped_mine.tsv").exists()  # the earlier run's skips are gone with their lines


def test_common_voice_tsv_with_a_header_and_an_audio_dir(tmp_path):
    clips = tmp_path / "cv" / "clips"
    _tone(clips / "common_voice_en_1.wav", 1.0, sr=48000)
    _tone(clips / "common_voice_en_2.wav", 1.0, sr=48000)
    (tmp_path / "cv" / "validated.tsv").write_text(
        "client_id\tpath\tsentence\tup_votes\n"
        "abc\tcommon_voice_en_1.wav\tThe quick brown fox.\t2\n"
        "def\tcommon_voice_en_2.wav\tJumps over it\t3\n")
    out = tmp_path / "m"
    assert main(["prepare", str(tmp_path / "cv" / "validated.tsv"), str(out), "--audio-dir", str(clips)]) == 0
    cuts = CutSet.from_file(out / "cuts_validated.jsonl.gz")
    assert {(c.supervisions[0].id, c.supervisions[0].speaker, c.supervisions[0].text) for c in cuts} == {
        ("common_voice_en_1", "abc", "THE QUICK BROWN FOX"), ("common_voice_en_2", "def", "JUMPS OVER IT")}


def test_nothing_usable_or_no_list_is_an_error_naming_it(tmp_path, capsys):
    listing = tmp_path / "bad.tsv"
    listing.write_text("nowhere.wav\tHELLO\n")
    assert main(["prepare", str(listing), str(tmp_path / "out")]) == 1
    assert f"{listing}: no usable utterance (1 skipped)" in capsys.readouterr().err
    assert main(["prepare", str(listing), str(tmp_path / "out"), "--subsets", "dev-clean-2"]) == 1
    assert "--subsets" in capsys.readouterr().err
    corpus = tmp_path / "corpus" / "LibriSpeech" / "dev-clean-2" / "1" / "2"
    corpus.mkdir(parents=True)
    (corpus / "1-2.trans.txt").write_text("1-2-0000 HELLO\n")
    assert main(["prepare", str(tmp_path / "corpus"), str(tmp_path / "out"), "--name", "x"]) == 1
    assert "not a LibriSpeech-layout directory" in capsys.readouterr().err
    assert main(["prepare", str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 1
    assert "nowhere" in capsys.readouterr().err


def test_a_directory_of_recordings_with_transcripts_beside_them(tmp_path, capsys):
    """Montreal Forced Aligner's layout: spk/x.wav + spk/x.lab (or .txt); what lacks a transcript is a counted skip."""
    d = tmp_path / "recorded"
    _tone(d / "anna" / "001.wav", 1.0)
    (d / "anna" / "001.lab").write_text("Good morning\n")
    _tone(d / "anna" / "002.flac", 1.2, sr=22050)
    (d / "anna" / "002.txt").write_text("it's   raining\nagain\n")  # lines joined
    _tone(d / "ben" / "001.wav", 0.8)
    (d / "ben" / "001.txt").write_text("one")
    (d / "ben" / "001.lab").write_text("two")  # disagrees with its .txt
    _tone(d / "ben" / "002.wav", 0.8)  # no transcript
    (d / "ben" / "notes.txt").write_text("not a transcript of anything")
    _tone(d / "cleo" / "001.wav", 0.8)
    _tone(d / "cleo" / "001.flac", 0.9)  # two recordings, one transcript: which is it of?
    (d / "cleo" / "001.txt").write_text("hello")
    out = d / "manifests"  # inside it: what is written there does not count as new recordings
    assert main(["prepare", str(d), str(out)]) == 0
    assert "recorded: 2 utterances" in capsys.readouterr().out
    cuts = CutSet.from_file(out / "cuts_recorded.jsonl.gz")
    assert {(c.supervisions[0].id, c.supervisions[0].text) for c in cuts} == {
        ("anna_001", "GOOD MORNING"), ("anna_002", "IT'S RAINING AGAIN")}
    assert all(c.recording.sampling_rate == 16000 for c in cuts)
    skipped = dict(line.split("\t") for line in (out / "skipped_recorded.tsv").read_text().splitlines())
    two = "another audio file has its name (001.flac, 001.wav): which one the transcript is of cannot be told; keep one"
    assert skipped == {"ben/001.wav": "two transcripts that differ (001.txt, 001.lab)",
                       "ben/002.wav": "no transcript beside it (002.txt or 002.lab)",
                       "cleo/001.flac": two, "cleo/001.wav": two}
    first = (out / "cuts_recorded.jsonl.gz").stat().st_mtime_ns
    assert main(["prepare", str(d), str(out)]) == 0  # nothing changed: not made again
    assert (out / "cuts_recorded.jsonl.gz").stat().st_mtime_ns == first
    (d / "ben" / "002.txt").write_text("a new one")  # a transcript added: made again
    assert main(["prepare", str(d), str(out)]) == 0
    assert len(CutSet.from_file(out / "cuts_recorded.jsonl.gz")) == 3
    assert main(["prepare", str(d), str(out), "--audio-dir", str(d)]) == 1
    assert "--audio-dir is for a list file" in capsys.readouterr().err


def tiny_cuts(tmp_path: Path) -> Path:
    """Another small training set, 16 kHz mono, under ids of its own."""
    listing = tmp_path / "other" / "other.tsv"
    for i in range(4):
        _tone(listing.parent / f"o{i}.wav", 1.0 + 0.2 * i)
    listing.write_text("".join(f"o{i}.wav\tOTHER WORDS {'ONE TWO THREE FOUR'.split()[i]}\n" for i in range(4)))
    assert main(["prepare", str(listing), str(tmp_path / "other")]) == 0
    return tmp_path / "other" / "cuts_other.jsonl.gz"


def test_a_list_trains_and_fine_tunes_through_asr_train(recordings, tmp_path):
    """The manifests of a list (44.1 kHz stereo among them) feed `asr train` as they are, noise mixing included."""
    from test_training import tiny_cfg

    from asr.training.train import run_training

    out = tmp_path / "manifests"
    assert main(["prepare", str(recordings / "list.tsv"), str(out), "--name", "mine"]) == 0
    cuts = out / "cuts_mine.jsonl.gz"
    noise = tmp_path / "noise"
    assert main(["make-noise", str(noise), "--seconds", "3", "--count", "4"]) == 0
    first = run_training(tiny_cfg(out, tmp_path / "exp", f"data.train_cuts=[{cuts}]", f"data.dev_cuts={cuts}",
                                  "trainer.max_epochs=1", f"data.noise={{cuts: {noise / 'noise_cuts.jsonl.gz'}, "
                                  "snr: [10, 20], p: 1.0}"))
    # weighed up beside other data, as README's "Your own recordings" does: {cuts: ..., repeat: N} on the command line
    other = tiny_cuts(tmp_path)
    again = run_training(tiny_cfg(out, tmp_path / "ft", f"data.train_cuts=[{other},{{cuts: {cuts}, repeat: 3}}]",
                                  f"data.dev_cuts={cuts}", "trainer.max_epochs=1", f"init_from={first}"))
    summary = json.loads((tmp_path / "ft" / "train_summary.json").read_text())
    assert (again / "model.safetensors").is_file() and summary["train_skipped"] == {}
    meta = yaml.safe_load((again / "config.yaml").read_text())["meta"]
    assert meta["train_utterances"] == len(CutSet.from_file(other)) + 3 * 2


def test_files_of_one_name_in_different_places_are_different_utterances(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    first, second = _tone(elsewhere / "a" / "x.wav", 1.0), _tone(elsewhere / "b" / "x.wav", 1.2)
    _tone(tmp_path / "list" / "a_x.wav", 0.8)
    listing = tmp_path / "list" / "l.tsv"
    listing.write_text(f"{first}\tONE\n{second}\tTWO\n{first}\tONE AGAIN\na_x.wav\tTHREE\n../list/a_x.wav\tFOUR\n")
    assert main(["prepare", str(listing), str(tmp_path / "out")]) == 0
    cuts = CutSet.from_file(tmp_path / "out" / "cuts_l.jsonl.gz")
    texts = {c.supervisions[0].text: c.supervisions[0].id for c in cuts}
    assert set(texts) == {"ONE", "TWO", "THREE"} and len(set(texts.values())) == 3
    assert texts["ONE"].endswith("elsewhere_a_x") and texts["TWO"].endswith("elsewhere_b_x")
    skipped = (tmp_path / "out" / "skipped_l.tsv").read_text()
    assert "(line 3)\tthe same audio as line 1" in skipped and "(line 5)\tthe same audio as line 4" in skipped


def test_the_manifest_reads_from_any_working_directory(recordings, tmp_path, monkeypatch):
    monkeypatch.chdir(recordings)  # a relative list and output, as typed in the recordings' directory
    assert main(["prepare", "list.tsv", "out", "--name", "here"]) == 0
    monkeypatch.chdir(tmp_path)
    cut = next(iter(CutSet.from_file(recordings / "out" / "cuts_here.jsonl.gz")))
    assert load_cut_audio(cut).shape[0] > 0


def test_drafted_transcripts_are_written_beside_the_audio_and_yours_are_kept(tmp_path):
    from asr.corpora.drafts import draft_transcripts

    d = tmp_path / "untranscribed"
    for name in ("a", "b", "c"):
        _tone(d / "spk" / f"{name}.wav", 1.0 + 0.25 * "abc".index(name))
    (d / "spk" / "b.txt").write_text("my own words\n")  # a transcript already there: kept
    (d / "broken.wav").write_bytes(b"RIFF not really a wave file")
    heard = iter(["Hello, world!", "Uh..."])  # what the labeller hears in a.wav and c.wav, in name order
    counts = draft_transcripts(d, lambda waves: [next(heard) for _ in waves])
    assert counts == {"written": 1, "kept": 1, "unreadable audio": 1, "nothing heard": 1}
    assert (d / "spk" / "a.txt").read_text() == "HELLO WORLD\n" and not (d / "spk" / "c.txt").exists()
    assert (d / "spk" / "b.txt").read_text() == "my own words\n"
    assert main(["prepare", str(d), str(tmp_path / "m")]) == 0  # the drafts feed asr prepare as they are
    texts = {c.supervisions[0].text for c in CutSet.from_file(tmp_path / "m" / "cuts_untranscribed.jsonl.gz")}
    assert texts == {"HELLO WORLD", "MY OWN WORDS"}
    assert draft_transcripts(d, lambda audio: "again", overwrite=True)["written"] == 3  # all but the broken one
    with pytest.raises(ValueError, match="no audio files"):
        draft_transcripts(tmp_path / "m", lambda audio: "")
