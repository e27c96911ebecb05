"""Inference back ends for the acoustic model, behind the interface ``Recognizer`` uses from ``AcousticModel``
(``model(features, lengths) -> AcousticOutput``, ``subsampling_factor``, ``output_lengths``): PyTorch itself, or a
graph exported by `asr export --format onnx` (optionally int8) run by onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import torch

from asr.models.acoustic import AcousticModel, AcousticOutput

RUNTIMES = ("torch", "onnx", "onnx-int8")
# the files `asr export` writes into a model package, by runtime / format
FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx", "torchscript": "model.torchscript.pt"}


class RuntimeUnavailable(RuntimeError):
    pass


class OnnxAcousticModel:
    """An exported ONNX acoustic model behind the interface ``Recognizer`` uses from ``AcousticModel``."""

    def __init__(self, path: str | Path, model: AcousticModel, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise RuntimeUnavailable("the ONNX runtime path needs onnxruntime: pip install 'asr[export]'") from e
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no exported ONNX model; make it with "
                                    f"`asr export {path.parent} {path.parent} --format onnx`")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types for bad files
            raise ValueError(f"{path}: not a loadable ONNX model ({e})") from e
        self.path = path
        self.subsampling_factor = model.subsampling_factor
        self.output_lengths = model.output_lengths

    def __call__(self, feats: torch.Tensor, lengths: torch.Tensor):
        log_probs, out_lengths = self.session.run(None, {"features": feats.cpu().numpy(),
                                                         "lengths": lengths.cpu().numpy().astype("int64")})
        return AcousticOutput(torch.from_numpy(log_probs), torch.from_numpy(out_lengths))

    def to(self, device):  # the Recognizer moves its model; onnxruntime runs on the CPU here
        if str(device) != "cpu":
            raise ValueError("the ONNX runtime path runs on the CPU; use --runtime torch for GPUs")
        return self

    def eval(self):
        return self


def acoustic_runtime(package_dir: str | Path, model: AcousticModel, runtime: str = "torch"):
    """The package's acoustic model in ``runtime`` (torch: the module itself)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if runtime == "torch":
        return model
    return OnnxAcousticModel(Path(package_dir) / FILES[runtime], model)
