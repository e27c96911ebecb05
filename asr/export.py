"""Export the acoustic model of a package to ONNX or TorchScript, checked against PyTorch.

The exported graph is the package's ``AcousticModel``: normalized log-mel features (batch, time, mel) + lengths ->
CTC log-probs (batch, time', vocab) + output lengths, with the normalization statistics inside and dynamic batch and
time axes. Log-mel features stay in ``asr.features`` (torch.stft). The file goes into the package directory next to
``model.safetensors``, so a package carries everything ``asr transcribe --runtime onnx`` needs:

    <package>/model.onnx              ONNX (opset 18, onnxruntime)
    <package>/model.int8.onnx         the same, weights dynamically quantized to int8 (``--quantize int8``)
    <package>/model.torchscript.pt    TorchScript (``torch.jit.load``)

Every export is verified at once: the exported model runs on a padded batch of random features and its log-probs
must equal PyTorch's within ``PARITY_TOLERANCE`` (quantized models: reported, not required).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from asr.atomic import atomic_path
from asr.models.acoustic import AcousticModel
from asr.package import ModelPackage
from asr.runtime import FILES, OnnxAcousticModel

PARITY_TOLERANCE = 1e-4


class ExportError(RuntimeError):
    pass


def example_batch(model: AcousticModel, lengths: tuple[int, ...] = (203, 150, 97), seed: int = 0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch of random features (zeros past each length), lengths not multiples of the subsampling."""
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(len(lengths), max(lengths), model.config.n_mels, generator=g)  # (batch, time, mel)
    for i, n in enumerate(lengths):
        feats[i, n:] = 0
    return feats, torch.tensor(lengths)


def export_onnx(model: AcousticModel, path: str | Path) -> Path:
    """ONNX (opset 18) with dynamic batch and time axes; written atomically.

    This uses torch.onnx's TorchScript-based exporter (``dynamo=False``): in torch 2.13 the torch.export-based one
    fails on GRUs (its aten.gru decomposition breaks with a dynamic time axis) and takes ~40x longer. torch is
    pinned to 2.13, where the TorchScript-based exporter is deprecated but complete; parity is checked either way.
    """
    try:
        import onnx
    except ImportError as e:
        raise ExportError("ONNX export needs the onnx package: pip install 'asr[export]'") from e
    path = Path(path)
    model = model.cpu().eval()
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the deprecation notice, and notes on constant folding
            torch.onnx.export(model, example_batch(model), str(tmp), input_names=["features", "lengths"],
                              output_names=["log_probs", "out_lengths"], opset_version=18, dynamo=False,
                              dynamic_axes={"features": {0: "batch", 1: "time"}, "lengths": {0: "batch"},
                                            "log_probs": {0: "batch", 1: "frames"}, "out_lengths": {0: "batch"}})
        try:
            onnx.checker.check_model(str(tmp))
        except onnx.checker.ValidationError as e:
            raise ExportError(f"{path}: the exported graph is not valid ONNX ({e})") from e
    return path


def quantize_onnx(src: str | Path, dst: str | Path) -> Path:
    """onnxruntime's dynamic int8 quantization (int8 weights, activations quantized on the fly) of the LSTM,
    MatMul and Conv nodes. The graph is constant-folded first, so that the LSTM weights (reordered into ONNX's gate
    order by the exporter) become initializers the quantizer can convert."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    dst = Path(dst)
    folded = dst.with_name(f".{dst.name}.folded{os.getpid()}")
    try:
        with atomic_path(dst) as tmp:
            quant_pre_process(str(src), str(folded), skip_symbolic_shape=True)
            quantize_dynamic(str(folded), str(tmp), weight_type=QuantType.QInt8,
                             op_types_to_quantize=["LSTM", "MatMul", "Conv"])
    finally:
        folded.unlink(missing_ok=True)
    return dst


def export_torchscript(model: AcousticModel, path: str | Path) -> Path:
    """torch.jit.trace of the CPU forward (no Python branch depends on shapes, so the trace is dynamic)."""
    path = Path(path)
    model = model.cpu().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace is deprecated upstream; it is what TorchScript users load
        traced = torch.jit.trace(model, example_batch(model), check_trace=False)
    with atomic_path(path) as tmp:
        traced.save(str(tmp))
    return path


def max_difference(model: AcousticModel, run, lengths: tuple[int, ...] = (203, 150, 97)) -> float:
    """Largest |log-prob| difference between PyTorch and ``run`` (an exported model) on a padded random batch,
    over every item's valid frames; the output lengths must match exactly."""
    feats, lens = example_batch(model, lengths, seed=1)
    with torch.inference_mode():
        ref = model.cpu().eval()(feats, lens)
        out = run(feats, lens)
    if not torch.equal(torch.as_tensor(out[1]).long(), ref.lengths.long()):
        raise ExportError(f"exported model's output lengths {out[1].tolist()} != PyTorch's {ref.lengths.tolist()}")
    return max(float((torch.as_tensor(out[0])[i, :n] - ref.log_probs[i, :n]).abs().max())
               for i, n in enumerate(ref.lengths.tolist()))


def _checked(model: AcousticModel, path: Path, run, what: str) -> tuple[Path, float]:
    """``path`` and its max log-prob difference from PyTorch (``run``: the exported model loaded); on a parity
    failure the file is removed (never leave one behind that a runtime would use) and ExportError raised."""
    diff = max_difference(model, run)
    if not diff <= PARITY_TOLERANCE:  # NaN fails too
        path.unlink()
        raise ExportError(f"{path}: {what} log-probs differ from PyTorch's by {diff:.2e} > {PARITY_TOLERANCE}")
    return path, diff


def export(package: ModelPackage, out_dir: Path, fmt: str, quantize: str | None = None) -> list[tuple[Path, float]]:
    """Write the exported model(s) into the (already written) package directory ``out_dir``; returns each file
    with its measured max log-prob difference from PyTorch. Raises ExportError if parity fails."""
    model = package.model.cpu().eval()
    if model.config.chunk_size:
        raise ExportError("a chunked (latency-controlled) model runs a loop over windows whose count depends on the "
                          "input length, which a traced graph would fix to one length: it runs with PyTorch only")
    if model.config.encoder:
        raise ExportError("the Whisper encoder runs a loop over 29 s windows whose count depends on the input length, "
                          "which a traced graph would fix to one window: it runs with PyTorch only")
    if fmt == "onnx":
        path = export_onnx(model, out_dir / FILES["onnx"])
        written = [_checked(model, path, OnnxAcousticModel(path, model), "ONNX")]
        if quantize == "int8":  # quantized: its difference is reported, not held to the parity tolerance
            q = quantize_onnx(path, out_dir / FILES["onnx-int8"])
            written.append((q, max_difference(model, OnnxAcousticModel(q, model))))
        return written
    if fmt == "torchscript":
        if quantize:
            raise ExportError("--quantize applies to ONNX exports (onnxruntime's int8 kernels)")
        path = export_torchscript(model, out_dir / FILES["torchscript"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            loaded = torch.jit.load(str(path))
        return [_checked(model, path, loaded, "TorchScript")]
    raise ExportError(f"unknown export format {fmt!r} (onnx, torchscript)")
