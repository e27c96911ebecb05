"""Put a trained model package (and its LM) into models/<name>/ as the shipped default: float16 weights (loading
casts them back), the LM in <name>/lm/, the lexicon and n-gram it was tuned with (if any), and a model card written
from what is known about it.

    python tools/ship_model.py exp/en/model --lm exp/en/lm/lm --results bench_accuracy.json \
        --training-data "..." --limitations "..." [--name en]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from asr.decoding.bundle import carry_files, copy_lm
from asr.package import load_package, save_package

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path)
    p.add_argument("--lm", type=Path, help="an LM package to ship inside the model (lm/)")
    p.add_argument("--results", type=Path, help="tools/bench_accuracy.py --json output: the figures for the card")
    p.add_argument("--training-data", required=True)
    p.add_argument("--limitations", required=True)
    p.add_argument("--trained-by", default="", help="the commands that made it")
    p.add_argument("--name", default="en")
    p.add_argument("--output-dir", type=Path, help="where to write it (default: models/<name>)")
    args = p.parse_args()
    package = load_package(args.model)
    meta = dict(package.meta)
    meta.update({"training_data": args.training_data, "limitations": args.limitations})
    if args.trained_by:
        meta["trained_by"] = args.trained_by
    if args.results:
        meta["results"] = [{"data": r["data"], "decode": r["system"], "wer": r["wer"], "cer": r["cer"]}
                           for r in json.loads(args.results.read_text()) if r["system"].startswith("asr")]
    meta["weights"] = "float16 (cast back to float32 when loaded)"
    package.meta = meta
    out = args.output_dir or ROOT / "models" / args.name
    save_package(package, out, dtype=torch.float16)
    carry_files(Path(args.model), out, package.decode)  # the lexicon and n-gram `asr tune` keeps beside the weights
    if args.lm:
        copy_lm(out, args.lm)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
