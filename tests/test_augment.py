"""Train-time signal augmentation (asr/augment.py) and the synthetic noise / room-response corpus."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import RecordingSet

from asr.augment import build_transforms
from asr.corpora.noise import coloured_noise, make_noise, room_impulse_response
from asr.cuts import load_cuts
from asr.data import AsrDataset
from asr.text import Tokenizer


@pytest.fixture(scope="module")
def noise_dir(tiny_manifests, tmp_path_factory):
    out = tmp_path_factory.mktemp("noise")
    make_noise(out, count=10, seconds=2.0, speech=load_cuts(tiny_manifests / "librispeech_cuts_train-clean-5.jsonl.gz"))
    return out


def test_noise_corpus_has_every_kind_and_its_manifests(noise_dir):
    names = sorted(p.stem.split("-")[0] for p in noise_dir.glob("*.flac"))
    assert set(names) == {"white", "pink", "brown", "hum", "babble"} and len(names) == 10
    cuts = load_cuts(noise_dir / "noise_cuts.jsonl.gz")
    assert len(cuts) == 10 and all(abs(c.duration - 2.0) < 1e-6 for c in cuts)
    rirs = RecordingSet.from_file(noise_dir / "rir_recordings.jsonl.gz")
    assert len(rirs) == 10
    for flac in noise_dir.glob("*.flac"):
        audio, sr = sf.read(flac)
        assert sr == 16000 and 0.01 < np.sqrt(np.mean(audio ** 2)) < 0.5  # not silent, not clipped


def test_coloured_noise_slopes_and_rir_shape():
    rng = np.random.default_rng(0)
    spectra = {}
    for name, slope in (("white", 0.0), ("brown", -2.0)):
        x = coloured_noise(rng, 16000 * 4, slope)
        power = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / 16000)
        spectra[name] = power[(f > 100) & (f < 400)].mean() / power[(f > 3000) & (f < 6000)].mean()
    assert 0.5 < spectra["white"] < 2 and spectra["brown"] > 50  # low/high power ratio
    rir = room_impulse_response(rng)
    assert rir[0] == 1.0 and np.abs(rir).max() == 1.0
    tail = np.abs(rir[len(rir) // 2:]).mean()
    head = np.abs(rir[1:len(rir) // 8]).mean()
    assert tail < head  # it decays


def test_real_noise_recordings_are_cut_into_pieces_beside_the_synthetic_noise(tmp_path):
    """asr make-noise --from: a long recording gives at most 6 pieces spread over it, a short one one piece, at
    16 kHz mono whatever the input; silence, unreadable files and tiny clips are counted skips, not noise."""
    from asr.cli import main

    src = tmp_path / "mine" / "street"
    src.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(44100 * 3) / 44100
    tones = np.concatenate([0.3 * np.sin(2 * np.pi * (200 + 100 * i) * t) for i in range(10)])  # one per 3 s
    long = np.stack([tones, tones + 0.01 * rng.standard_normal(len(tones))], axis=1)
    sf.write(src / "traffic.wav", long, 44100)  # 30 s stereo at 44.1 kHz: 10 pieces of 3 s, 6 kept
    sf.write(src / "door.flac", 0.5 * rng.standard_normal(8000), 16000)  # 0.5 s: one piece
    sf.write(src / "quiet.wav", np.zeros(16000 * 4), 16000)  # digital silence
    sf.write(src / "click.wav", 0.5 * rng.standard_normal(800), 16000)  # 50 ms
    (src / "broken.ogg").write_bytes(b"not audio")
    out = tmp_path / "noise"
    assert main(["make-noise", str(out), "--from", str(tmp_path / "mine"), "--count", "2", "--seconds", "3"]) == 0
    cuts = load_cuts(out / "noise_cuts.jsonl.gz")
    real = sorted((c for c in cuts if c.id.startswith("real-")), key=lambda c: c.id)
    assert len(cuts) == 2 + 7 and len(real) == 7
    durations = sorted(round(c.duration, 3) for c in real)
    assert durations == [0.5] + [3.0] * 6
    traffic = sorted((c for c in real if c.duration == 3.0), key=lambda c: c.id)
    tones_heard = []
    for c in traffic:
        audio, _ = sf.read(c.recording.sources[0].source)
        tones_heard.append(round(np.argmax(np.abs(np.fft.rfft(audio))) * 16000 / len(audio) / 100) - 2)
    assert tones_heard == [0, 2, 4, 5, 7, 9]  # 6 pieces spread over the 10 of the recording, first and last kept
    for c in real:
        audio, sr = sf.read(c.recording.sources[0].source)
        assert sr == 16000 and audio.ndim == 1 and np.sqrt(np.mean(audio ** 2)) > 0.01
    # made again with other sources: an error, not the old noise
    with pytest.raises(ValueError, match="other settings"):
        make_noise(out, count=2, seconds=3.0, real=[tmp_path / "elsewhere"])
    assert make_noise(out, count=2, seconds=3.0, real=[tmp_path / "mine"]) == out / "noise_cuts.jsonl.gz"


def test_real_noise_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        make_noise(tmp_path / "a", count=0, real=[tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        make_noise(tmp_path / "b", count=0, real=[tmp_path / "empty"])
    with pytest.raises(ValueError, match="no noise to make"):
        make_noise(tmp_path / "c", count=0)
    sf.write(tmp_path / "empty" / "silence.wav", np.zeros(16000), 16000)
    with pytest.raises(ValueError, match="no usable noise"):
        make_noise(tmp_path / "d", count=0, real=[tmp_path / "empty"])


def test_every_transform_runs_and_changes_the_training_features(tiny_manifests, noise_dir):
    cuts = load_cuts(tiny_manifests / "librispeech_cuts_train-clean-5.jsonl.gz")
    clean = AsrDataset(Tokenizer())[cuts]
    augment = {"volume": {"p": 1.0}, "reverb": {"p": 1.0, "rirs": str(noise_dir / "rir_recordings.jsonl.gz")},
               "telephone": {"p": 1.0}, "codec": {"p": 1.0, "codecs": ["gsm", "mp3", "opus"]},
               "clipping": {"p": 1.0}}
    for name, cfg in augment.items():
        batch = AsrDataset(Tokenizer(), augment={name: cfg})[cuts]
        assert batch.skipped == 0, name
        assert batch.texts == clean.texts and torch.equal(batch.tokens, clean.tokens), name  # labels untouched
        n = min(batch.features.shape[1], clean.features.shape[1])
        assert not torch.allclose(batch.features[:, :n], clean.features[:, :n], atol=1e-3), name
    noisy = AsrDataset(Tokenizer(), noise={"cuts": str(noise_dir / "noise_cuts.jsonl.gz"), "p": 1.0})[cuts]
    assert noisy.skipped == 0 and noisy.texts == clean.texts


def test_noise_from_directories_made_separately_combines(tiny_manifests, noise_dir, tmp_path):
    """data.noise.cuts may list several manifests: two `asr make-noise` directories have the same ids (white-0000-0),
    which as training cuts would be an error; as noise each source's ids get a prefix and every recording stays."""
    from asr.augment import combined_noise

    other = make_noise(tmp_path / "other", count=3, seconds=1.0)
    first = noise_dir / "noise_cuts.jsonl.gz"
    with pytest.raises(ValueError, match="distinct ids"):
        load_cuts([first, other])
    noise = combined_noise([str(first), other], load_cuts)
    ids = [c.id for c in noise]
    assert len(ids) == len(set(ids)) == len(load_cuts(first)) + 3
    assert "noise0-white-0000-0" in ids and "noise1-white-0000-0" in ids
    assert all(not c.supervisions for c in noise)
    assert [c.id for c in combined_noise(str(first), load_cuts)] == [c.id for c in load_cuts(first)]  # one: as is
    with pytest.raises(ValueError, match="empty list"):
        combined_noise([], load_cuts)
    cuts = load_cuts(tiny_manifests / "librispeech_cuts_train-clean-5.jsonl.gz").subset(first=4)
    clean = AsrDataset(Tokenizer())[cuts]
    noisy = AsrDataset(Tokenizer(), noise={"cuts": [str(first), str(other)], "p": 1.0})[cuts]
    assert noisy.skipped == 0 and noisy.texts == clean.texts
    assert not torch.allclose(noisy.features, clean.features, atol=1e-3)


def test_telephone_band_removes_high_frequencies(tiny_manifests):
    cuts = load_cuts(tiny_manifests / "librispeech_cuts_train-clean-5.jsonl.gz").subset(first=2)
    phone = build_transforms(augment={"telephone": {"p": 1.0, "cutoff": [3400, 3400]}})
    for cut, narrow in zip(cuts, phone[0](cuts)):
        wide_spec = np.abs(np.fft.rfft(cut.load_audio()[0])) ** 2
        narrow_spec = np.abs(np.fft.rfft(narrow.load_audio()[0])) ** 2
        f = np.fft.rfftfreq(cut.load_audio().shape[1], 1 / 16000)
        high = f > 4500
        assert narrow_spec[high].sum() < 0.01 * wide_spec[high].sum()


def test_unknown_or_incomplete_augmentation_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown transform.*echo"):
        build_transforms(augment={"echo": {"p": 1}})
    with pytest.raises(ValueError, match="reverb needs rirs"):
        build_transforms(augment={"reverb": {"p": 1}})


def test_dev_batches_are_never_augmented(tiny_manifests, noise_dir):
    """The training system's dev loader uses a plain dataset: the same features on every call."""
    from omegaconf import OmegaConf
    from test_config import compose_train

    cfg = OmegaConf.to_container(compose_train(["experiment=general",
                                                f"data.manifest_dir={tiny_manifests}",
                                                f"data.noise_dir={noise_dir}"]), resolve=True)
    train = AsrDataset(Tokenizer(), speed_perturb=cfg["data"]["speed_perturb"], noise=cfg["data"]["noise"],
                       augment=cfg["data"]["augment"])
    names = [type(t).__name__ for t in train.transforms]
    assert names == ["PerturbSpeed", "ReverbWithImpulseResponse", "CutMix", "PerturbVolume", "ClippingTransform",
                     "LowpassUsingResampling", "Compress"]
    dev = AsrDataset(Tokenizer())
    cuts = load_cuts(tiny_manifests / "librispeech_cuts_dev-clean-2.jsonl.gz")
    assert dev.transforms == [] and torch.equal(dev[cuts].features, dev[cuts].features)


def test_vocal_tract_length_perturbation_moves_formants():
    from asr.augment import FrequencyWarp

    feats = torch.full((2, 5, 80), -5.0)
    feats[:, :, 30] = 3.0  # a "formant" at band 30
    same = FrequencyWarp((1.0, 1.0))(feats)
    torch.testing.assert_close(same, feats)
    up = FrequencyWarp((1.15, 1.15))(feats)
    down = FrequencyWarp((0.87, 0.87))(feats)
    assert int(up[0, 0].argmax()) > 30 > int(down[0, 0].argmax())  # a shorter vocal tract: higher formants
    assert up.shape == feats.shape and torch.isfinite(up).all()
    with pytest.raises(ValueError, match="vtlp"):
        FrequencyWarp((1.2, 0.9))
    batch_cfg = AsrDataset(Tokenizer(), augment={"vtlp": [0.9, 1.1]})
    assert batch_cfg.warp is not None and batch_cfg.transforms == []


def test_noise_floor_turns_digital_silence_into_quiet_noise_at_the_asked_level(tiny_manifests):
    from asr.augment import NoiseFloor

    silence, tone = torch.zeros(16000), 0.3 * torch.sin(torch.arange(16000) / 5.0)
    quiet = NoiseFloor(p=1.0, dbfs=(-60.0, -60.0), seed=1)([silence, tone])
    rms_db = 20 * torch.log10(quiet[0].square().mean().sqrt())
    assert abs(float(rms_db) + 60) < 0.1 and (quiet[0] == 0).float().mean() < 1e-3
    assert quiet[1].shape == tone.shape and 0 < float((quiet[1] - tone).abs().max()) < 0.02
    again = NoiseFloor(p=1.0, dbfs=(-60.0, -60.0), seed=1)([silence, tone])
    assert all(torch.equal(a, b) for a, b in zip(quiet, again))  # seeded: a resumed run adds the same noise
    assert torch.equal(NoiseFloor(p=0.0)([silence])[0], silence)
    with pytest.raises(ValueError, match="floor dbfs"):
        NoiseFloor(dbfs=(-40.0, 3.0))
    # in a training batch: the log-mel values of digital silence (the log floor, -13.8) rise to the noise's level
    cuts = load_cuts(tiny_manifests / "librispeech_cuts_train-clean-5.jsonl.gz").subset(first=4)
    plain = AsrDataset(Tokenizer())[cuts]
    floored = AsrDataset(Tokenizer(), augment={"floor": {"p": 1.0, "dbfs": [-50, -50]}})[cuts]
    assert floored.features.shape == plain.features.shape
    valid = torch.arange(plain.features.shape[1])[None, :] < plain.feature_lengths[:, None]
    low = [float(torch.quantile(b.features[valid][:, 5:].flatten(), 0.05)) for b in (plain, floored)]
    assert low[0] < -13 and low[1] > low[0] + 3
