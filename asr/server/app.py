"""The routes of `asr serve` (a Starlette app; the server around it: asr/server/run.py).

    POST /v1/audio/transcriptions   OpenAI-compatible (multipart ``file``, ``model``, ``response_format``, ...)
    GET  /v1/models                 the loaded model, OpenAI's list shape
    POST /transcribe[?format=json|text|srt|vtt]   body: the audio file's bytes (for curl)
    GET  /health                    {"status": "ok", ...}
    WS   /v1/stream                 live transcription with a streaming model (stream_route.py)

Every error is JSON: ``{"error": {"message": ...}}`` (OpenAI's shape) under /v1, ``{"error": "..."}`` elsewhere.
Audio is read and decoded on worker threads, never on the event loop."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from asr.audio import AudioError, load_audio_bytes
from asr.formats import CONTENT_TYPES, FORMATS, render
from asr.server.limits import ApiError, DecoderPool, Limits, read_body
from asr.server.openai_api import error_body, models_list, parse_request, render_transcription

log = logging.getLogger(__name__)
ROUTES = "POST /v1/audio/transcriptions, GET /v1/models, POST /transcribe, GET /health, WS /v1/stream"


def error_response(path: str, error: ApiError) -> JSONResponse:
    body = error_body(error.status, error.message, error.code) if path.startswith("/v1/") else {"error": error.message}
    return JSONResponse(body, error.status, headers=error.headers)


async def _transcript(pool: DecoderPool, data: bytes, name: str):
    """Audio bytes -> Transcript; ApiError 400 for unreadable audio, 500 if decoding fails, 503 when busy."""
    if not data:
        raise ApiError(400, f"{name}: the request has no audio")
    try:
        wave = await run_in_threadpool(load_audio_bytes, data, name)
    except AudioError as e:
        raise ApiError(400, str(e)) from None
    try:
        return await pool.run(lambda recognizer: recognizer.transcripts([wave], [name])[0])
    except ApiError:
        raise
    except Exception as e:  # noqa: BLE001 - the client gets an answer, the log the details
        log.exception("decoding %s failed", name)
        raise ApiError(500, f"decoding failed: {type(e).__name__}: {e}") from None


def make_app(pool: DecoderPool, limits: Limits, model_id: str, created: int, extra_routes=()) -> Starlette:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": model_id, "max_concurrent": pool.size, "idle": pool.idle,
                             "waiting": pool.waiting, "served": pool.served})

    async def transcribe(request: Request) -> Response:
        fmt = request.query_params.get("format", "json")
        if fmt not in FORMATS:
            raise ApiError(400, f"unknown format {fmt!r}: choose {', '.join(FORMATS)}")
        data = await read_body(request.receive, request.headers, limits)
        return Response(render(await _transcript(pool, data, "upload"), fmt), media_type=CONTENT_TYPES[fmt])

    async def models(request: Request) -> Response:
        return JSONResponse(models_list(model_id, created))

    async def model(request: Request) -> Response:
        if request.path_params["name"] != model_id:
            raise ApiError(404, f"model {request.path_params['name']!r} is not served here; this server has "
                                f"{model_id!r}", "model_not_found")
        return JSONResponse(models_list(model_id, created)["data"][0])

    async def transcriptions(request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise ApiError(400, "send the audio as multipart/form-data with a 'file' field (as OpenAI's clients do)")
        data = await read_body(request.receive, request.headers, limits)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": data, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=2, max_fields=64)
        except HTTPException as e:
            raise ApiError(400, f"malformed multipart body: {e.detail}") from None
        try:
            req = await parse_request(form, model_id)
        finally:
            await form.close()
        body, content_type = render_transcription(await _transcript(pool, req.audio, req.filename), req)
        return Response(body, media_type=content_type)

    async def api_error(request: Request, exc: ApiError) -> Response:
        return error_response(request.url.path, exc)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = f"no such endpoint: {request.method} {request.url.path} ({ROUTES})" if exc.status_code in (404, 405) \
            else str(exc.detail)
        return error_response(request.url.path, ApiError(exc.status_code, message))

    routes = [Route("/health", health), Route("/transcribe", transcribe, methods=["POST"]),
              Route("/v1/models", models), Route("/v1/models/{name:path}", model),
              Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]), *extra_routes]
    return Starlette(routes=routes, exception_handlers={ApiError: api_error, HTTPException: http_error})
