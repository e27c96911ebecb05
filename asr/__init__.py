"""asr: a small, fast BiLSTM-CTC speech recognition toolkit."""

__version__ = "0.1.0"


def load_model(path, device: str = "cpu"):
    """Load a model package for transcription: ``asr.load_model("exp/mini/model").transcribe("a.wav").text``."""
    from asr.transcribe import load_model as _load_model

    return _load_model(path, device)
