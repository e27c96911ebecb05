"""The natural-speech dev set builder and the accuracy benchmark's shared text normalization."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import bench_accuracy  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

from asr.corpora import real_dev  # noqa: E402


def test_transcripts_lose_noise_tags_and_fillers_but_keep_words():
    clean = real_dev.clean_transcript
    assert clean("[laughter] montreal [laughter] forced aligner") == "MONTREAL FORCED ALIGNER"
    assert clean("uh so this is the sick corpus um <VOCNOISE> yeah") == "SO THIS IS THE SICK CORPUS YEAH"
    assert clean("montreal forced aligner i hardly know 'er") == "MONTREAL FORCED ALIGNER I HARDLY KNOW HER"
    assert clean("Feed'st thy light's flame with self-substantial fuel,") == \
        "FEED'ST THY LIGHT'S FLAME WITH SELF SUBSTANTIAL FUEL"


def test_one_phrase_does_not_dominate():
    clips = {f"mfa_m{i}": "montreal forced aligner" for i in range(12)}
    clips.update({f"mfa_like{i}": f"m f a is like word{i}" for i in range(8)})
    clips.update({"mfa_cut": "<cutoff-montreal> montreal forced", "mfa_x": "this is a long stop", "other": "no"})
    kept = real_dev.pick_phrase_clips(clips)
    assert sum(k.startswith("mfa_m") for k in kept) == 2  # at most 2 of one transcript
    assert sum(k.startswith("mfa_like") for k in kept) == 3  # at most 3 of one phrase family
    assert "mfa_x" in kept and "mfa_cut" not in kept and "other" not in kept


def test_conftest_transcripts_are_read_from_dict_literals():
    source = 'def f():\n    return {"mfa_a": "this is a", "falsetto": "all very high", 3: "x"}\n'
    assert real_dev.conftest_transcripts(source) == {"mfa_a": "this is a", "falsetto": "all very high",
                                                           "3": "x"}


def test_benchmark_normalization_is_the_same_for_every_system():
    norm = bench_accuracy.normalize
    assert norm("1. From fairest creatures, we desire increase.") == "ONE FROM FAIREST CREATURES WE DESIRE INCREASE"
    assert norm("Uh, in 2020 we had 15 teams") == "IN TWO THOUSAND TWENTY WE HAD FIFTEEN TEAMS"
    assert norm("Fire-fox") == "FIRE FOX"
    assert bench_accuracy.number_words(1999) == "ONE THOUSAND NINE HUNDRED NINETY NINE"


def test_benchmark_compares_each_system_with_pocketsphinx_utterance_by_utterance():
    words = [10, 8, 12, 9, 11, 7]
    per_utt = {("pocketsphinx", "dev-real"): ([5, 4, 6, 5, 6, 3], words),
               ("asr-greedy", "dev-real"): ([7, 6, 8, 7, 8, 5], words),  # 2 more errors on every utterance
               ("whisper-tiny.en", "dev-real"): ([1, 0, 2, 1, 1, 0], words),
               ("asr-greedy", "test-clean-2"): ([1], [5])}  # no pocketsphinx result there: not compared
    lines = bench_accuracy.paired_lines(per_utt, "pocketsphinx")
    assert len(lines) == 2
    assert lines[0].startswith("asr-greedy - pocketsphinx on dev-real: +21.05 WER points")  # 12 / 57
    assert "asr-greedy better in 0.0% of the resamplings" in lines[0]
    assert "whisper-tiny.en better in 100.0%" in lines[1]


def test_benchmark_writes_per_utterance_results_that_agree_with_asr_evaluate(tiny_corpus, tmp_path, capsys):
    """--per-utt: each system's hypotheses per utterance, in `asr evaluate`'s columns; asr greedy's are evaluate's
    (after the benchmark's filler-free normalization) and add up to the WER the benchmark prints and writes."""
    import json

    from asr.evaluate import evaluate

    small = Path(__file__).parent / "data" / "small_model"  # recognizes speech: the hypotheses are not empty
    data = tiny_corpus / "LibriSpeech" / "test-clean-2"
    assert bench_accuracy.main([str(small), str(data), "--systems", "asr-greedy", "--json", str(tmp_path / "r.json"),
                                "--per-utt", str(tmp_path / "utt")]) == 0
    rows = [r.split("\t") for r in (tmp_path / "utt" / "asr-greedy.test-clean-2.per_utt.tsv").read_text().splitlines()]
    assert rows[0] == ["id", "errors", "words", "wer", "ref", "hyp"] and len(rows) == 5
    result = json.loads((tmp_path / "r.json").read_text())[0]
    assert result["system"] == "asr-greedy" and result["utterances"] == 4
    assert result["wer"] == pytest.approx(100 * sum(int(r[1]) for r in rows[1:]) / sum(int(r[2]) for r in rows[1:]),
                                          abs=0.01)
    assert f"WER {result['wer']:6.2f}" in capsys.readouterr().out
    ours = evaluate(small, data, tmp_path / "eval")["test-clean-2"][0].rows
    assert [r[0] for r in rows[1:]] == [r["id"] for r in ours]
    assert [r[5] for r in rows[1:]] == [bench_accuracy.normalize(r["hyp"]) for r in ours] and any(r[5] for r in rows[1:])


def test_dev_set_is_written_in_the_librispeech_layout_from_the_sdists(fake_sdists, tmp_path):
    """The same code path as the real sdists, on small stand-ins with their layout (no network)."""
    from asr.corpora.librispeech import prepare_librispeech

    subset = real_dev.make_real_dev(tmp_path / "out", sdist_dir=fake_sdists)
    texts = dict(line.split(" ", 1) for t in subset.rglob("*.trans.txt") for line in t.read_text().splitlines())
    assert sorted(texts.values()) == ["HE BEGAN A CONFUSED COMPLAINT", "ONE FROM FAIREST CREATURES", "SO HIGH",
                                      "THIS IS A", "WITH ONLY LIKE FOUR GAMES TO GO"]
    for utt in texts:
        spk, chapter, _ = utt.split("-")
        info = sf.info(subset / spk / chapter / f"{utt}.flac")
        assert info.samplerate == 16000 and info.channels == 1
    reports = prepare_librispeech(subset.parent, tmp_path / "manifests", [real_dev.SUBSET])
    assert reports[0].utterances == 5


def test_sdists_are_downloaded_from_the_index_and_checked_against_their_pinned_sha256(tmp_path, monkeypatch):
    import hashlib

    from mirror import Mirror

    served = tmp_path / "served"
    served.mkdir()
    good, bad = b"an sdist", b"another sdist"
    (served / "aeneas_x-1.0.tar.gz").write_bytes(good)
    (served / "aeneas-x").write_text('<a href="../files/aeneas_x-1.0.tar.gz#sha256=0">aeneas_x-1.0.tar.gz</a>')
    monkeypatch.setattr(real_dev, "SDISTS", {"aeneas-x": ("1.0", hashlib.sha256(good).hexdigest())})
    with Mirror(served) as mirror:
        got = real_dev.fetch_sdists(tmp_path / "sdists", index_url=mirror.url + "/simple")
        assert got["aeneas-x"].read_bytes() == good
        assert real_dev.fetch_sdists(tmp_path / "sdists", index_url=mirror.url) == got  # there already: no request
        assert sum(p.endswith(".tar.gz") for _, p, _ in mirror.requests) == 1
        mirror.overrides["aeneas_x-1.0.tar.gz"] = bad  # a tampered or corrupted file is refused, nothing kept
        with pytest.raises(ValueError, match="pinned"):
            real_dev.fetch_sdists(tmp_path / "other", index_url=mirror.url)
        assert not list((tmp_path / "other").iterdir())
        monkeypatch.setattr(real_dev, "SDISTS", {"not-there": ("2.0", "0" * 64)})  # 404: says what to do
        with pytest.raises(RuntimeError, match="not_there-2.0.tar.gz: could not download.*--sdist-dir"):
            real_dev.fetch_sdists(tmp_path / "third", index_url=mirror.url)


def test_whisper_labeller_packs_short_clips_and_gives_each_its_words(monkeypatch):
    """Short clips go into one input of <= 28 s with 1 s of silence between them; each word Whisper hears goes
    back to the clip its middle falls in (or, in a gap, the nearest); a clip too long to share goes alone."""
    from types import SimpleNamespace as NS

    calls = []

    class FakeWhisper:  # hears one word in the middle of every stretch of non-silence, named by its length
        def transcribe(self, audio, **kwargs):
            calls.append((len(audio) / 16000, kwargs.get("word_timestamps", False)))
            loud = np.abs(audio) > 0
            edges = np.flatnonzero(np.diff(np.r_[0, loud.astype(int), 0]))
            words = [NS(start=a / 16000, end=b / 16000, word=f" w{(b - a) // 16000}")
                     for a, b in zip(edges[::2], edges[1::2])]
            if len(words) > 1:  # a word in the first gap, nearer the first clip
                words.append(NS(start=words[0].end + 0.1, end=words[0].end + 0.3, word=" gap"))
            return [NS(text="".join(w.word for w in words), words=words)], None

    monkeypatch.setattr(bench_accuracy, "whisper_model", lambda threads: FakeWhisper())
    label = bench_accuracy.whisper_labeller(2)
    waves = [np.ones(s * 16000, np.float32) for s in (2, 3, 10, 10, 30, 4)]
    assert label(waves) == ["w2 gap", "w3", "w10", "w10", "w30", "w4"]
    # 2 + 1 + 3 + 1 + 10 + 1 + 10 = 28 s together; the 30 s clip alone; the last alone (nothing after it)
    assert calls == [(28.0, True), (30.0, False), (4.0, False)]
