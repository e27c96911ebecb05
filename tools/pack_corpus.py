"""Copy lhotse manifests with their audio re-encoded as Ogg Opus (libsndfile's default, ~23 kb/s for 16 kHz speech,
~5x smaller than FLAC, same sample count): to move a corpus through a narrow transfer, e.g. to a GPU machine that
takes 64 MiB. Lossy: for experiments whose every run sees the same packed audio, not for data you keep.

    python tools/pack_corpus.py OUT_DIR data/en/manifests/librispeech_cuts_{train-clean-5,dev-clean-2}.jsonl.gz

Writes OUT_DIR/audio/<recording id>.ogg and OUT_DIR/<same manifest names> pointing at them (paths as OUT_DIR is
given: relative paths stay relative to the directory the manifests are used from).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import soundfile as sf
from lhotse import AudioSource, CutSet, Recording
from lhotse.utils import fastcopy
from tqdm.auto import tqdm

from asr.atomic import atomic_path


def packed_recording(rec: Recording, audio_dir: Path) -> Recording:
    path = audio_dir / f"{rec.id}.ogg"
    if not path.exists():
        samples = rec.load_audio()  # (channels, samples)
        with atomic_path(path) as tmp:
            sf.write(tmp, samples.T, rec.sampling_rate, format="OGG", subtype="OPUS")
    return fastcopy(rec, sources=[AudioSource(type="file", channels=list(rec.channel_ids), source=str(path))])


def pack_cuts(manifest: Path, out_dir: Path) -> Path:
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    cuts = CutSet.from_file(manifest)
    packed = [fastcopy(cut, recording=packed_recording(cut.recording, audio_dir))
              for cut in tqdm(cuts, desc=f"Packing {manifest.name}", unit="cut")]
    out = out_dir / manifest.name
    with atomic_path(out) as tmp:
        CutSet.from_cuts(packed).to_file(tmp)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("manifests", type=Path, nargs="+", help="CutSet manifests (*.jsonl.gz)")
    args = parser.parse_args()
    for manifest in args.manifests:
        print(pack_cuts(manifest, args.out_dir))


if __name__ == "__main__":
    main()
