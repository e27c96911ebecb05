"""Export to ONNX and TorchScript: log-probs equal PyTorch's within 1e-4 on padded batches of any size, for every
front end and recurrent cell; the onnxruntime path is used by transcription (CLI side in test_cli.py)."""

import pytest
import torch

from asr.export import (
    PARITY_TOLERANCE,
    ExportError,
    export,
    export_onnx,
    export_torchscript,
    max_difference,
)
from asr.features import FeatureConfig
from asr.models.acoustic import AcousticConfig, AcousticModel
from asr.package import ModelPackage, load_package, save_package
from asr.runtime import OnnxAcousticModel
from asr.text import Tokenizer

CONFIGS = {
    "blstm-stack": AcousticConfig(num_layers=2, hidden_size=48, subsampling_factor=4),
    "bgru-conv-projection": AcousticConfig(rnn="gru", subsampling="conv", subsampling_factor=3, num_layers=2,
                                           hidden_size=40, projection_size=32),
    "blstm-conv2d": AcousticConfig(subsampling="conv2d", conv_channels=4, num_layers=1, hidden_size=32),
}


def random_model(config: AcousticConfig) -> AcousticModel:
    torch.manual_seed(0)
    model = AcousticModel(config).eval()
    with torch.no_grad():  # non-trivial normalization statistics, so that they are part of what is compared
        model.normalizer.mean.uniform_(-1, 1)
        model.normalizer.std.uniform_(0.5, 2)
    return model


@pytest.mark.parametrize("name", CONFIGS)
def test_onnx_matches_pytorch_for_any_batch_and_length(name, tmp_path):
    model = random_model(CONFIGS[name])
    onnx_model = OnnxAcousticModel(export_onnx(model, tmp_path / "model.onnx"), model)
    # other batch sizes and lengths than the export example; lengths of 1 frame and non-multiples of the factor
    for lengths in ((203, 150, 97), (1,), (64, 5, 33, 17, 2)):
        assert max_difference(model, onnx_model, lengths) < PARITY_TOLERANCE, lengths
    # the same, measured here without the exporter's own helper
    torch.manual_seed(3)
    feats, lens = torch.randn(2, 120, 80), torch.tensor([120, 61])
    with torch.inference_mode():
        ref, out = model(feats, lens), onnx_model(feats, lens)
    assert out.lengths.tolist() == ref.lengths.tolist() == [-(-120 // model.subsampling_factor),
                                                            -(-61 // model.subsampling_factor)]
    for i, n in enumerate(ref.lengths.tolist()):
        torch.testing.assert_close(out.log_probs[i, :n], ref.log_probs[i, :n], atol=PARITY_TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", CONFIGS)
def test_torchscript_matches_pytorch(name, tmp_path):
    model = random_model(CONFIGS[name])
    path = export_torchscript(model, tmp_path / "model.torchscript.pt")
    with pytest.warns(DeprecationWarning):  # torch.jit is deprecated upstream, still what TorchScript users load
        loaded = torch.jit.load(str(path))
    for lengths in ((203, 150, 97), (1,), (64, 5, 33, 17, 2)):
        assert max_difference(model, loaded, lengths) < PARITY_TOLERANCE, lengths


def test_export_into_a_package_quantized_and_errors(tmp_path):
    model = random_model(CONFIGS["blstm-stack"])
    package = ModelPackage(model, Tokenizer(), FeatureConfig())
    save_package(package, tmp_path / "pkg")
    package = load_package(tmp_path / "pkg")
    written = dict(export(package, tmp_path / "pkg", "onnx", quantize="int8"))
    onnx_file, int8_file = tmp_path / "pkg" / "model.onnx", tmp_path / "pkg" / "model.int8.onnx"
    assert set(written) == {onnx_file, int8_file} and written[onnx_file] < PARITY_TOLERANCE
    # int8 weights: about a quarter of the float file, and still close to the float model's log-probs
    assert int8_file.stat().st_size < 0.4 * onnx_file.stat().st_size
    assert written[int8_file] < 1.0
    with pytest.raises(ExportError, match="ONNX"):
        export(package, tmp_path / "pkg", "torchscript", quantize="int8")
    with pytest.raises(FileNotFoundError, match="model.onnx"):
        OnnxAcousticModel(tmp_path / "elsewhere" / "model.onnx", model)
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.onnx"):
        OnnxAcousticModel(tmp_path / "bad.onnx", model)
    # a chunked model's window loop depends on the length: a trace would fix it to one, so it is refused
    chunked = ModelPackage(random_model(AcousticConfig(num_layers=1, hidden_size=16, chunk_size=4)), Tokenizer(),
                           FeatureConfig())
    for fmt in ("onnx", "torchscript"):
        with pytest.raises(ExportError, match="chunked"):
            export(chunked, tmp_path / "chunked", fmt)
    assert not (tmp_path / "chunked").exists()


def test_failed_parity_leaves_no_exported_file(tmp_path, monkeypatch):
    import asr.export as export_module

    package = ModelPackage(random_model(CONFIGS["blstm-stack"]), Tokenizer(), FeatureConfig())
    monkeypatch.setattr(export_module, "max_difference", lambda *a, **k: 1.0)  # as if the runtime disagreed
    for fmt, name in (("onnx", "model.onnx"), ("torchscript", "model.torchscript.pt")):
        with pytest.raises(ExportError, match="differ"):
            export(package, tmp_path, fmt)
        assert not (tmp_path / name).exists()
