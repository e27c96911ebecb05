import shutil

import numpy as np
import soundfile as sf
from lhotse import CutSet

from asr.corpora.librispeech import cuts_path, prepare_librispeech
from asr.corpora.manifests import summarize
from asr.cuts import load_cut_audio


def test_prepare_writes_manifests(tiny_manifests):
    for subset, n in (("train-clean-5", 12), ("dev-clean-2", 4), ("test-clean-2", 4)):
        cuts = CutSet.from_file(cuts_path(tiny_manifests, subset))
        assert len(cuts) == n
        for kind in ("recordings", "supervisions"):
            assert (tiny_manifests / f"librispeech_{kind}_{subset}.jsonl.gz").is_file()
        assert all(c.supervisions[0].text for c in cuts)


def test_bad_files_are_counted_skips_with_reasons(tiny_corpus, tmp_path):
    corpus = tmp_path / "LibriSpeech"
    shutil.copytree(tiny_corpus / "LibriSpeech" / "dev-clean-2", corpus / "dev-clean-2")
    flacs = sorted((corpus / "dev-clean-2").rglob("*.flac"))
    flacs[0].write_bytes(b"this is not audio at all")
    flacs[1].unlink()
    # a stereo 44.1 kHz file: still used, as 16 kHz mono
    audio, sr = sf.read(flacs[2])
    stereo = np.stack([audio, audio], axis=1)
    import soxr
    sf.write(flacs[2], soxr.resample(stereo, sr, 44100), 44100, format="FLAC")
    reports = prepare_librispeech(tmp_path, tmp_path / "out")
    report = reports[0]
    assert report.utterances == 2
    assert sorted(report.skipped) == sorted([flacs[0].stem, flacs[1].stem])  # exactly the two broken files
    assert report.skipped[flacs[1].stem] == "audio file missing"
    assert report.skipped[flacs[0].stem].startswith("unreadable audio")
    assert "skipped 2" in summarize(reports)
    assert (tmp_path / "out" / "skipped_dev-clean-2.tsv").read_text().count("\n") == 2
    cuts = CutSet.from_file(cuts_path(tmp_path / "out", "dev-clean-2"))
    stereo_cut = next(c for c in cuts if c.recording.id == flacs[2].stem)
    wave = load_cut_audio(stereo_cut)
    assert wave.ndim == 1 and abs(len(wave) - len(audio)) < 20  # mono, at 16 kHz


def test_prepare_is_idempotent(tiny_corpus, tmp_path):
    prepare_librispeech(tiny_corpus, tmp_path, ["dev-clean-2"])
    manifest = cuts_path(tmp_path, "dev-clean-2")
    stamp = manifest.stat().st_mtime_ns
    reports = prepare_librispeech(tiny_corpus, tmp_path, ["dev-clean-2"])
    assert manifest.stat().st_mtime_ns == stamp and reports[0].utterances == 4
