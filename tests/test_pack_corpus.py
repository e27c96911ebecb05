"""tools/pack_corpus.py: manifests copied with Opus audio that loads, same ids, lengths and texts, smaller files."""

import sys
from pathlib import Path

import numpy as np
from lhotse import CutSet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from pack_corpus import pack_cuts  # noqa: E402


def test_packed_cuts_load_the_same_speech_from_smaller_files(tiny_manifests, tmp_path):
    manifest = tiny_manifests / "librispeech_cuts_dev-clean-2.jsonl.gz"
    out = pack_cuts(manifest, tmp_path / "packed")
    original, packed = CutSet.from_file(manifest), CutSet.from_file(out)
    assert [c.id for c in packed] == [c.id for c in original]
    for a, b in zip(original, packed):
        assert b.recording.sources[0].source.endswith(".ogg")
        assert b.supervisions[0].text == a.supervisions[0].text
        x, y = a.load_audio()[0], b.load_audio()[0]
        assert len(y) == len(x)
        assert np.corrcoef(x, y)[0, 1] > 0.9  # lossy, but the same speech
    flac = sum(Path(c.recording.sources[0].source).stat().st_size for c in original)
    ogg = sum(Path(c.recording.sources[0].source).stat().st_size for c in packed)
    assert ogg < flac / 2
    first = Path(next(iter(packed)).recording.sources[0].source)
    written = first.stat().st_mtime_ns
    pack_cuts(manifest, tmp_path / "packed")  # a second run reuses the audio it wrote
    assert first.stat().st_mtime_ns == written
