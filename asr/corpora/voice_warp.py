"""New speakers from a TTS voice: formant and pitch shifts that leave the tempo alone.

A TTS engine has a handful of base voices; what a model must learn is speech from *people*, whose vocal tracts
(formant positions) and pitch differ independently. Praat's "Change gender" (through ``praat-parselmouth``, in the
``voices`` extra) resamples to move the formants and re-synthesizes the pitch contour with PSOLA, keeping durations,
so one engine voice gives a continuum of speakers (shorter or longer vocal tracts, higher or lower voices) when the
corpus is made. It costs about 1% of real time.
"""

from __future__ import annotations

import numpy as np

INSTALL_HINT = "pip install praat-parselmouth (or the project's `voices` extra: pip install -e '.[voices]')"
PITCH_FLOOR, PITCH_CEILING = 60.0, 600.0  # Hz: the range Praat's pitch analysis searches


def available() -> bool:
    try:
        import parselmouth  # noqa: F401
    except ImportError:
        return False
    return True


def change_voice(audio: np.ndarray, sample_rate: int, formant_ratio: float, pitch_ratio: float) -> np.ndarray:
    """``audio`` spoken with formants scaled by ``formant_ratio`` and the median pitch by ``pitch_ratio``.

    Same length and sample rate; float32. Audio with no voiced frames (nothing to re-pitch) keeps its pitch and only
    has its formants moved.
    """
    if not (0.5 < formant_ratio < 2.0 and 0.3 < pitch_ratio < 3.0):
        raise ValueError(f"formant ratio must lie in (0.5, 2) and pitch ratio in (0.3, 3), "
                         f"got {formant_ratio} and {pitch_ratio}")
    try:
        import parselmouth
        from parselmouth.praat import call
    except ImportError as e:
        raise RuntimeError(f"voice warping needs praat-parselmouth: {INSTALL_HINT}") from e
    sound = parselmouth.Sound(np.asarray(audio, dtype=np.float64), sampling_frequency=sample_rate)
    pitch = sound.to_pitch(pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING)
    median = call(pitch, "Get quantile", 0, 0, 0.5, "Hertz")
    new_median = 0.0 if not np.isfinite(median) else float(np.clip(median * pitch_ratio, PITCH_FLOOR, PITCH_CEILING))
    # arguments: pitch floor and ceiling, formant shift ratio, new pitch median (0 = keep), pitch range factor,
    # duration factor
    out = call(sound, "Change gender", PITCH_FLOOR, PITCH_CEILING, formant_ratio, new_median, 1.0, 1.0)
    warped = out.values[0].astype(np.float32)
    # Praat keeps the length to within a sample or two; make it exact
    if len(warped) >= len(audio):
        return warped[:len(audio)]
    return np.pad(warped, (0, len(audio) - len(warped)))
