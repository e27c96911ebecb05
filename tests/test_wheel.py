"""The distribution installs under its own name as a wheel (not editable) and works from there: the config groups
and the command are inside it (a source checkout is not needed)."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_runs_transcribe_and_train(tmp_path, tiny_corpus, tiny_manifests):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("bilstm_asr-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "asr/cli.py" in names and "asr/corpora/data/sentences.txt.gz" in names
    # the default English model (models/en), its LM and lexicon: `asr transcribe FILE` with no model package
    assert {f"asr/pretrained/en/{f}" for f in ("model.safetensors", "config.yaml", "tokens.json", "lexicon.txt",
                                                "lm/lm.safetensors", "lm/config.yaml")} <= set(names)
    # every config file, in every group (a group folder missing from pyproject's package list would be left out)
    configs = sorted(f"asr/conf/{p.relative_to(ROOT / 'conf')}" for p in (ROOT / "conf").rglob("*.yaml"))
    assert [name for name in configs if name not in names] == [] and len(configs) > 20
    # a fresh venv with the wheel only; its dependencies come from this environment's site-packages, read as plain
    # directories (.pth files there, such as the editable install's finder, are not processed)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                   check=True, timeout=600)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([py, "-c", "import asr, pathlib; print(pathlib.Path(asr.__file__).parent)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True, env=env).stdout.strip()
    assert where.startswith(str(venv)), where  # the installed copy, not the checkout
    asr = venv / "bin" / "asr"
    audio = sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))[0]
    small = ROOT / "tests" / "data" / "small_model"
    run = subprocess.run([asr, "transcribe", small, audio, "--format", "json"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=600)
    assert run.returncode == 0 and '"text"' in run.stdout, run.stderr
    train = subprocess.run([asr, "train", "experiment=tiny", f"data.manifest_dir={tiny_manifests}",
                            f"exp_dir={tmp_path / 'exp'}", "trainer.max_epochs=1"], capture_output=True, text=True,
                           cwd=tmp_path, env=env, timeout=900)
    assert train.returncode == 0, train.stderr[-3000:]
    assert (tmp_path / "exp" / "model" / "model.safetensors").is_file()
