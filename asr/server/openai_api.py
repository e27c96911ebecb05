"""The OpenAI audio API's shape (``POST /v1/audio/transcriptions``, ``GET /v1/models``): request fields checked,
answers rendered as OpenAI's clients expect them.

Fields: ``file`` (required), ``model`` (the served model's id), ``response_format`` (json, text, srt, vtt,
verbose_json), ``timestamp_granularities[]`` (``word`` adds words to verbose_json; ``segment``, the default, adds
segments), ``language`` (``en`` only). Accepted and ignored: ``prompt`` (a CTC model takes no text prompt) and
``temperature`` (decoding is deterministic). ``stream=true`` is refused: streaming lives on the WebSocket route."""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass

from asr import formats
from asr.formats import cues, render
from asr.server.limits import ApiError

RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
GRANULARITIES = ("word", "segment")
CONTENT_TYPES = {**formats.CONTENT_TYPES, "verbose_json": "application/json"}


@dataclass(frozen=True)
class TranscriptionRequest:
    audio: bytes
    filename: str
    response_format: str
    granularities: tuple[str, ...]


def error_body(status: int, message: str, code: str | None = None) -> dict:
    """OpenAI's error object: clients raise it as ``openai.BadRequestError`` etc. with this message."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


async def parse_request(form, model_id: str) -> TranscriptionRequest:
    """A parsed multipart form -> the request, or ApiError(400 / 404) naming the field at fault."""
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise ApiError(400, "the 'file' field (the audio file, multipart/form-data) is required", "missing_file")
    model = form.get("model")
    if not model:
        raise ApiError(400, "the 'model' field is required (GET /v1/models lists it)", "missing_model")
    if model != model_id:
        raise ApiError(404, f"model {model!r} is not served here; this server has {model_id!r}", "model_not_found")
    fmt = form.get("response_format") or "json"
    if fmt not in RESPONSE_FORMATS:
        raise ApiError(400, f"unknown response_format {fmt!r}: choose {', '.join(RESPONSE_FORMATS)}")
    language = (form.get("language") or "en").strip().lower()
    if language != "en":
        raise ApiError(400, f"language {language!r} is not supported: this model recognizes English only ('en')",
                       "unsupported_language")
    if (form.get("stream") or "false").lower() == "true":
        raise ApiError(400, "stream=true is not supported on this route; use the WebSocket route /v1/stream")
    given = form.getlist("timestamp_granularities[]") or form.getlist("timestamp_granularities")
    unknown = [g for g in given if g not in GRANULARITIES]
    if unknown:
        raise ApiError(400, f"unknown timestamp_granularities {unknown}: choose word, segment")
    if given and fmt != "verbose_json":
        raise ApiError(400, "timestamp_granularities needs response_format=verbose_json")
    return TranscriptionRequest(await upload.read(), upload.filename or "upload", fmt, tuple(given or ["segment"]))


def _segment(i: int, start: float, end: float, text: str, words) -> dict:
    inside = [w for w in words if start <= w.start and w.end <= end]
    logprob = sum(math.log(max(w.confidence, 1e-6)) for w in inside) / max(1, len(inside))
    data = text.encode()
    return {"id": i, "seek": 0, "start": round(start, 3), "end": round(end, 3), "text": text, "tokens": [],
            "temperature": 0.0, "avg_logprob": round(logprob, 4),
            "compression_ratio": round(len(data) / max(1, len(zlib.compress(data))), 4), "no_speech_prob": 0.0}


def render_transcription(transcript, request: TranscriptionRequest) -> tuple[str, str]:
    """(body, content type) for a transcript in the requested response_format."""
    fmt = request.response_format
    if fmt == "json":
        body = json.dumps({"text": transcript.text})
    elif fmt == "verbose_json":
        out = {"task": "transcribe", "language": "english", "duration": transcript.duration, "text": transcript.text}
        if "segment" in request.granularities:
            out["segments"] = [_segment(i, a, b, text, transcript.words)
                               for i, (a, b, text) in enumerate(cues(transcript.words))]
        if "word" in request.granularities:
            out["words"] = [{"word": w.text, "start": round(w.start, 3), "end": round(w.end, 3)}
                            for w in transcript.words]
        body = json.dumps(out)
    else:
        body = render(transcript, fmt)
    return body, CONTENT_TYPES[fmt]


def models_list(model_id: str, created: int) -> dict:
    return {"object": "list", "data": [{"id": model_id, "object": "model", "created": created, "owned_by": "asr"}]}
