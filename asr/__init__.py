"""asr: a small, fast BiLSTM-CTC speech recognition toolkit."""

__version__ = "0.1.0"


def load_model(path=None, device: str = "cpu", lm=None, decode: str | None = None, runtime: str = "torch",
               ngram=None, ngram_weight: float | None = None, lexicon=None):
    """Load a model package (and optionally an LM package or a KenLM n-gram) for transcription::

        model = asr.load_model()                 # the English model that ships with asr (models/en)
        model = asr.load_model("exp/mini/model")
        result = model.transcribe("a.wav")      # .text, .duration, .words (start, end, confidence)

    ``runtime="onnx"`` (or ``"onnx-int8"``) runs the acoustic model exported by ``asr export --format onnx``.
    ``lexicon="words.txt"`` (one word per line) makes the beam search emit only those words.
    """
    from asr.package import default_model_dir
    from asr.transcribe import load_model as _load_model

    return _load_model(path if path is not None else default_model_dir(), device, lm=lm, decode=decode,
                       runtime=runtime, ngram=ngram, ngram_weight=ngram_weight, lexicon=lexicon)
