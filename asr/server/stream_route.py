"""The WebSocket route of `asr serve`: live transcription with a streaming model (model=blstm_chunked, the
recipe's `--streaming`, or model=lstm_stream).

    ws://127.0.0.1:8000/v1/stream[?sample_rate=16000]

The client sends binary messages of raw 16-bit little-endian mono PCM (any size; 100-200 ms is typical) and, at the
end, the text message ``{"type": "end"}`` (or just closes). The server answers with JSON text messages:
``{"type": "partial", "text", "seconds"}`` when the text so far changes, ``{"type": "final", "words": [{"text",
"start", "end", "confidence"}], "seconds"}`` when words settle, and ``{"type": "done", "text", "duration",
"words"}`` after the end, then closes (1000). Problems come as ``{"type": "error", "message"}`` before a close: a
model that cannot stream (1003: a whole-input bidirectional one), too many streams at once (1013, try again later),
a client silent for ``client_timeout`` seconds (1008)."""

from __future__ import annotations

import asyncio
import json
from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from asr.audio import PcmDecoder
from asr.models.streaming import streaming_problem
from asr.streaming import StreamingRecognizer, done_event, update_events


def stream_route(package, limits, max_streams: int) -> WebSocketRoute:
    slots = asyncio.Semaphore(max_streams) if max_streams > 0 else None
    problem = streaming_problem(package.model.config)

    async def fail(ws: WebSocket, message: str, code: int) -> None:
        await ws.send_text(json.dumps({"type": "error", "message": message}))
        await ws.close(code)

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        if problem:
            await fail(ws, f"this server's model cannot stream: {problem}", 1003)
            return
        try:
            rate = int(ws.query_params.get("sample_rate", "16000"))
            if not 8000 <= rate <= 192000:
                raise ValueError
        except ValueError:
            await fail(ws, f"sample_rate must be a number of Hz (8000..192000), got "
                           f"{ws.query_params.get('sample_rate')!r}", 1003)
            return
        if slots is None or slots.locked():
            await fail(ws, f"busy: {max_streams} streams open; retry later", 1013)
            return
        async with slots:
            await _serve_stream(ws, StreamingRecognizer(package), PcmDecoder(rate), limits.client_timeout)

    return WebSocketRoute("/v1/stream", endpoint)


async def _serve_stream(ws: WebSocket, stream: StreamingRecognizer, decode: PcmDecoder, timeout: float) -> None:
    last = ""

    async def send(update) -> None:
        nonlocal last
        for event in update_events(update, last):
            await ws.send_text(json.dumps(event))
        last = update.partial

    try:
        while True:
            try:
                message = await asyncio.wait_for(ws.receive(), timeout)
            except TimeoutError:
                await ws.send_text(json.dumps({"type": "error", "message": f"no audio for {timeout:g} s"}))
                await ws.close(1008)
                return
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:  # a text message: the end of the input (anything else is refused)
                text = (message.get("text") or "").strip()
                if text not in ('{"type": "end"}', '{"type":"end"}', "EOF", "end"):
                    await ws.send_text(json.dumps({"type": "error", "message": f"unexpected text message "
                                                   f"{text[:80]!r}: send binary PCM, then {{\"type\": \"end\"}}"}))
                    await ws.close(1003)
                    return
                break
            await send(await run_in_threadpool(stream.accept, decode(data)))
        if len(tail := decode.flush()):
            await send(await run_in_threadpool(stream.accept, tail))
        await send(await run_in_threadpool(stream.finish))
        await ws.send_text(json.dumps(done_event(stream.transcript())))
        await ws.close(1000)
    except WebSocketDisconnect:
        return
