"""recipes/adapt/run.sh at tiny scale: your recordings (a directory with transcripts beside the audio) prepared, the
starting model scored, fine-tuned beside its training data with its own decoding carried over, scored again."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lhotse import CutSet

from asr.cli import main

RUN = Path(__file__).resolve().parent.parent / "recipes" / "adapt" / "run.sh"


def run_adapt(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", str(RUN), *args], capture_output=True, text=True, env=env, timeout=900)


def own_recordings(cuts: CutSet, out: Path) -> Path:
    """The cuts' audio as files with their transcripts beside them, as a user's recording app might leave them."""
    out.mkdir(parents=True)
    for cut in cuts:
        source = Path(cut.recording.sources[0].source)
        shutil.copy(source, out / source.name)
        (out / source.with_suffix(".txt").name).write_text(cut.supervisions[0].text.lower() + "\n")
    return out


@pytest.mark.slow
def test_adapt_recipe_fine_tunes_on_your_recordings_and_scores_before_and_after(tiny_manifests, tmp_path):
    from test_training import tiny_cfg

    from asr.training.train import run_training

    # the starting model: trained on the base data, decoding with a beam kept to a lexicon
    base = tmp_path / "base"
    base.mkdir()
    (base / "manifests").symlink_to(tiny_manifests)
    assert main(["compute-cmvn", str(tiny_manifests / "librispeech_cuts_train-clean-5.jsonl.gz"),
                 str(base / "cmvn.json")]) == 0
    train_cuts = CutSet.from_file(tiny_manifests / "librispeech_cuts_train-clean-5.jsonl.gz")
    test_cuts = CutSet.from_file(tiny_manifests / "librispeech_cuts_test-clean-2.jsonl.gz")
    lexicon = tmp_path / "words.txt"
    words = {w for c in [*train_cuts, *test_cuts] for w in c.supervisions[0].text.split()}
    lexicon.write_text("\n".join(sorted(words)))
    # (wider than experiment=tiny's model, which the recipe is given: the package's architecture is the one trained)
    start = run_training(tiny_cfg(tiny_manifests, tmp_path / "start", "trainer.max_epochs=1", "decode=beam",
                                  f"decode.lexicon={lexicon}", "decode.beam_word_bonus=-1.5", "model.hidden_size=40",
                                  "model.normalization=utterance"))
    mine = own_recordings(test_cuts.subset(first=2), tmp_path / "my_recordings")
    held_out = own_recordings(test_cuts.subset(last=2), tmp_path / "my_held_out")

    args = ["--model", str(start), "--base-data", str(base), "--experiment", "tiny", "--train", str(mine),
            "--dev", str(held_out), "--data-dir", str(tmp_path / "data"), "--exp-dir", str(tmp_path / "exp"),
            "--repeat", "2", "--epochs", "1", "--", "data.max_duration=13"]
    proc = run_adapt(*args)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    for stage in range(4):
        assert f"stage {stage}:" in proc.stdout
    own = CutSet.from_file(tmp_path / "data" / "cuts_own_train.jsonl.gz")
    assert len(own) == 2 and {c.supervisions[0].text for c in own} == {c.supervisions[0].text for c in
                                                                      test_cuts.subset(first=2)}
    exp = tmp_path / "exp"
    # trained beside a quarter of the base data (--base-share's default), the recordings counted twice
    meta = yaml.safe_load((exp / "model" / "config.yaml").read_text())["meta"]
    assert meta["train_utterances"] == round(len(train_cuts) / 4) + 2 * 2
    # the fine-tuned package is the starting one's architecture, and decodes as it did: its beam, weights and
    # (copied) lexicon
    config = yaml.safe_load((exp / "model" / "config.yaml").read_text())
    assert config["model"] == yaml.safe_load((start / "config.yaml").read_text())["model"]
    assert config["model"]["hidden_size"] == 40 and config["model"]["normalization"] == "utterance"
    decode = config["decode"]
    assert decode["method"] == "beam" and decode["beam_word_bonus"] == -1.5 and decode["lexicon"] == "lexicon.txt"
    assert (exp / "model" / "lexicon.txt").read_text().split() == lexicon.read_text().split()
    for when in ("before", "after"):
        for method in ("greedy", "beam"):
            rows = (exp / when / f"cuts_own_dev.{method}.per_utt.tsv").read_text().splitlines()[1:]
            assert len(rows) == 2
    assert "B - A:" in (exp / "compare.txt").read_text()

    again = run_adapt(*args)
    assert again.returncode == 0 and again.stdout.count("done already, skipping") == 4

    # all of the base data beside the recordings (--base-share 1): a longer fine-tuning that forgets less
    every = run_adapt(*args[:args.index("--exp-dir")], "--exp-dir", str(tmp_path / "exp_all"), "--base-share", "1",
                      "--stage", "2", "--stop-stage", "2", *args[args.index("--repeat"):])
    assert every.returncode == 0, f"{every.stdout[-3000:]}\n{every.stderr[-3000:]}"
    meta = yaml.safe_load((tmp_path / "exp_all" / "model" / "config.yaml").read_text())["meta"]
    assert meta["train_utterances"] == len(train_cuts) + 2 * 2

    missing = run_adapt("--train", str(mine), "--dev", str(tmp_path / "nowhere"), "--model", str(start))
    assert missing.returncode == 1 and "nowhere: not found" in missing.stderr
    assert run_adapt("--model", str(start)).returncode == 2
    same = run_adapt("--train", str(mine), "--dev", str(mine), "--model", str(start), "--base-data", str(base))
    assert same.returncode == 2 and "other recordings than --train" in same.stderr
