import librosa
import numpy as np
import pytest
import torch

from asr.features import CepstralSmoothing, CMVNStats, FeatureConfig, GlobalCMVN, LogMel, StatsAccumulator


@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.37])
def test_logmel_matches_librosa(seconds):
    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * seconds)) / 16000
    y = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    feats, lengths = LogMel()(torch.from_numpy(y)[None], torch.tensor([y.size]))
    ref = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=160, win_length=400, n_mels=80,
                                         htk=True, norm=None, center=True, pad_mode="constant", power=2.0)
    ref = np.log(ref + 1e-6).T  # (frames, mel)
    assert feats.shape == (1, ref.shape[0], 80)
    assert int(lengths[0]) == ref.shape[0] == FeatureConfig().num_frames(y.size)
    np.testing.assert_allclose(feats[0].numpy(), ref, atol=1e-3)


def test_logmel_batch_lengths_and_items_equal_single():
    rng = np.random.default_rng(1)
    waves = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (16000, 9000)]
    padded = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(w) for w in waves], batch_first=True)
    feats, lengths = LogMel()(padded, torch.tensor([16000, 9000]))
    single, n = LogMel()(torch.from_numpy(waves[1])[None], torch.tensor([9000]))
    assert lengths.tolist() == [101, 57]
    # frames away from the end do not see the padding
    np.testing.assert_allclose(feats[1, : n - 3].numpy(), single[0, : n - 3].numpy(), atol=1e-4)


def test_cmvn_stats_normalize_to_zero_mean_unit_variance(tmp_path):
    feats = torch.randn(3, 50, 80) * 4 + 7
    lengths = torch.tensor([50, 30, 10])
    acc = StatsAccumulator(80)
    acc.add(feats, lengths)
    stats = acc.result()
    assert stats.frames == 90
    stats.save(tmp_path / "cmvn.json")
    loaded = CMVNStats.load(tmp_path / "cmvn.json")
    norm = GlobalCMVN(80)
    norm.set_stats(loaded)
    out = norm(feats, lengths)
    real = torch.cat([out[0, :50], out[1, :30], out[2, :10]])
    assert real.mean().abs() < 1e-3 and (real.std() - 1).abs() < 1e-2
    assert out[1, 30:].abs().max() == 0  # padding stays zero


def test_bad_cmvn_file_names_the_file(tmp_path):
    (tmp_path / "x.json").write_text('{"mean": [1]}')
    with pytest.raises(ValueError, match="x.json"):
        CMVNStats.load(tmp_path / "x.json")


def test_cepstral_smoothing_removes_harmonic_ripple_and_keeps_the_envelope():
    bands = torch.arange(80, dtype=torch.float32)
    envelope = 2.0 * torch.cos(torch.pi * 3 * (2 * bands + 1) / 160)  # formant-scale shape: slow over the bands
    ripple = 0.5 * torch.cos(torch.pi * 40 * (2 * bands + 1) / 160)  # pitch harmonics: a period of 4 bands
    frames = (envelope + ripple).expand(3, 7, 80)  # (batch, time, mel)
    smooth = CepstralSmoothing(80, keep=20)
    out = smooth(frames)
    assert out.shape == frames.shape
    torch.testing.assert_close(out, envelope.expand(3, 7, 80), atol=1e-4, rtol=0)
    torch.testing.assert_close(smooth(out), out, atol=1e-4, rtol=0)  # a projection: smoothing twice changes nothing
    assert CepstralSmoothing(80, keep=0)(frames) is frames and CepstralSmoothing(80, keep=80)(frames) is frames
    with pytest.raises(ValueError, match="cepstral"):
        CepstralSmoothing(80, keep=-1)
