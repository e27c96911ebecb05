"""Degraded copies of an evaluation set (rooms, noise at a fixed SNR) for robustness measurements."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.cli import main
from asr.corpora.degraded import degrade_set
from asr.cuts import load_eval_cuts


def _audio(root: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(root)): sf.read(p, dtype="float32")[0] for p in sorted(root.rglob("*.flac"))}


def test_noise_at_the_asked_snr_and_the_same_transcripts(tiny_corpus, tmp_path):
    src = tiny_corpus / "LibriSpeech" / "dev-clean-2"
    out = tmp_path / "dev-noisy"
    result = degrade_set(src, out, snr_db=10.0)
    before, after = _audio(src), _audio(out)
    assert result.written == len(before) > 0 and not result.skipped and after.keys() == before.keys()
    for name, clean in before.items():
        noisy = after[name]
        assert len(noisy) == len(clean)
        snr = 10 * np.log10(np.mean(clean ** 2) / np.mean((noisy - clean) ** 2))
        assert 9.0 < snr < 11.0, (name, snr)  # FLAC's 16-bit rounding aside, exactly the noise asked for
    trans = sorted(p.relative_to(src) for p in src.rglob("*.trans.txt"))
    assert trans == sorted(p.relative_to(out) for p in out.rglob("*.trans.txt"))
    assert all((src / t).read_text() == (out / t).read_text() for t in trans)
    cuts = load_eval_cuts(out)["dev-noisy"]  # `asr evaluate MODEL OUT` reads it like the source
    assert len(cuts) == len(before)


def test_rooms_are_deterministic_per_file_and_keep_the_level(tiny_corpus, tmp_path):
    src = tiny_corpus / "LibriSpeech" / "dev-clean-2"
    degrade_set(src, tmp_path / "a", room=True)
    part = tmp_path / "part"  # the same set without its first speaker: the others get the same rooms
    shutil.copytree(src, part)
    first = sorted(p for p in part.iterdir() if p.is_dir())[0]
    shutil.rmtree(first)
    degrade_set(part, tmp_path / "b", room=True)
    a, b, clean = _audio(tmp_path / "a"), _audio(tmp_path / "b"), _audio(src)
    assert b and all(np.array_equal(a[k], b[k]) for k in b)
    for k, x in a.items():
        assert not np.allclose(x, clean[k], atol=1e-3)  # reverberated
        ratio = np.sqrt(np.mean(x ** 2) / np.mean(clean[k] ** 2))
        assert 0.9 < ratio < 1.1
    other = degrade_set(src, tmp_path / "c", room=True, seed=7)
    assert other.written == len(a) and any(not np.array_equal(_audio(tmp_path / "c")[k], a[k]) for k in a)


def test_bad_files_are_counted_and_bad_requests_are_clear(tiny_corpus, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(tiny_corpus / "LibriSpeech" / "dev-clean-2", src)
    broken = sorted(src.rglob("*.flac"))[0]
    broken.write_bytes(b"not audio")
    result = degrade_set(src, tmp_path / "out", snr_db=20.0)
    assert result.skipped == {"unreadable audio": 1} and result.written == len(list(src.rglob("*.flac"))) - 1
    assert degrade_set(src, tmp_path / "out", snr_db=20.0).written == result.written  # done: not redone
    with pytest.raises(ValueError, match="other settings"):  # the same copy asked for another degradation
        degrade_set(src, tmp_path / "out", snr_db=10.0)
    with pytest.raises(ValueError, match="nothing to do"):
        degrade_set(src, tmp_path / "x")
    (tmp_path / "empty").mkdir()
    assert main(["degrade", str(tmp_path / "empty"), str(tmp_path / "y"), "--room"]) != 0
    assert "empty: no .flac files" in capsys.readouterr().err
    assert main(["degrade", str(src), str(tmp_path / "z"), "--snr", "15"]) == 0
    assert f"{tmp_path / 'z'}: {result.written} utterances written, 1 skipped" in capsys.readouterr().out


def test_a_microphone_colour_changes_the_spectrum_not_the_level_and_the_utterance_mean_cancels_it(tiny_corpus,
                                                                                                  tmp_path):
    """asr degrade --eq: each utterance through a random smooth EQ of up to +-DB; its log-mel features move by
    several dB per band, and a model's per-utterance mean normalization (model.normalization=utterance) takes
    nearly all of that away (recipes/en/RESULTS.md measures it on dev-real: no CER change at +-20 dB)."""
    import torch

    from asr.features import GlobalCMVN, LogMel

    src = tmp_path / "dev-clean-2"  # with a microphone's noise floor first: TTS audio's digital silence has no colour
    degrade_set(tiny_corpus / "LibriSpeech" / "dev-clean-2", src, snr_db=30.0)
    assert degrade_set(src, tmp_path / "eq", eq_db=15.0).written > 0
    clean, coloured = _audio(src), _audio(tmp_path / "eq")
    logmel, norm = LogMel(), GlobalCMVN(utterance_mean=True)
    for name, x in clean.items():
        y = coloured[name]
        assert len(y) == len(x) and 0.95 < np.sqrt(np.mean(y ** 2) / np.mean(x ** 2)) < 1.05  # the level kept
        feats, lengths = logmel.batch([torch.from_numpy(x), torch.from_numpy(y)])  # (2, time, mel)
        raw = (feats[0] - feats[1]).abs().mean().item()
        normalized = norm(feats, lengths)
        left = (normalized[0] - normalized[1]).abs().mean().item()
        assert raw > 0.5 and left < raw / 4, (name, raw, left)  # nats of log power per band and frame
