"""asr: a small, fast BiLSTM-CTC speech recognition toolkit."""

__version__ = "0.1.0"


def load_model(path, device: str = "cpu", lm=None, decode: str | None = None, runtime: str = "torch"):
    """Load a model package (and optionally an LM package) for transcription::

        model = asr.load_model("exp/mini/model")
        result = model.transcribe("a.wav")      # .text, .duration, .words (start, end, confidence)

    ``runtime="onnx"`` (or ``"onnx-int8"``) runs the acoustic model exported by ``asr export --format onnx``.
    """
    from asr.transcribe import load_model as _load_model

    return _load_model(path, device, lm=lm, decode=decode, runtime=runtime)
