"""Shared fixtures: a tiny synthetic corpus (TTS, seconds of speech) and its manifests, made once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)
os.environ.setdefault("HYDRA_FULL_ERROR", "1")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """<root>/LibriSpeech/{train-clean-5,dev-clean-2,test-clean-2} from the 'tiny' plan, with tarballs."""
    from asr.corpora.synthetic import make_corpus

    root = tmp_path_factory.mktemp("tiny_corpus")
    make_corpus(root, "tiny", seed=0, tarballs=True)
    return root


@pytest.fixture(scope="session")
def tiny_manifests(tiny_corpus, tmp_path_factory) -> Path:
    from asr.corpora.librispeech import prepare_librispeech

    out = tmp_path_factory.mktemp("manifests")
    prepare_librispeech(tiny_corpus, out)
    return out


@pytest.fixture(scope="session")
def tiny_librispeech(tmp_path_factory) -> Path:
    """The 'tiny-librispeech' synthetic plan with OpenSLR-style tarballs, md5sum.txt and the LM text."""
    from asr.corpora.synthetic import make_corpus

    root = tmp_path_factory.mktemp("tiny_librispeech")
    make_corpus(root, "tiny-librispeech", seed=0, tarballs=True)
    return root
