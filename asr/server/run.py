"""`asr serve`: the app on uvicorn, bound to 127.0.0.1 unless told otherwise. ``Server.run()`` serves in the
foreground until Ctrl-C (graceful: requests in flight finish); ``Server.start()`` / ``stop()`` (or ``with``) serve
from a background thread, for tests, benchmarks and programs that embed the server."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import uvicorn

from asr.server.app import make_app
from asr.server.limits import DecoderPool, Limits
from asr.server.protocol import bounded_protocol
from asr.server.stream_route import stream_route
from asr.transcribe import load_model


def model_id_for(model: Path) -> str:
    """The name clients pass as ``model``: the package directory's name (its parent's for an ``exp/X/model``)."""
    path = Path(model).resolve()
    return path.parent.name if path.name == "model" else path.name


class _Stopped(Exception):
    pass


def _stop(signum, frame) -> None:
    raise _Stopped


class Server:
    def __init__(self, recognizers: list, host: str = "127.0.0.1", port: int = 8000, limits: Limits = Limits(),
                 model_id: str = "model", max_streams: int = 4):
        self.limits = limits
        self.model_id = model_id
        self.pool = DecoderPool(recognizers, limits)
        self.app = make_app(self.pool, limits, model_id, int(time.time()),
                            [stream_route(recognizers[0].package, limits, max_streams)])
        config = uvicorn.Config(self.app, host=host, port=port, log_level="warning", lifespan="off",
                                http=bounded_protocol(limits.client_timeout, limits.max_connections),
                                ws="websockets-sansio", timeout_keep_alive=limits.keep_alive,
                                timeout_graceful_shutdown=int(limits.queue_timeout) + 30)
        self.uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.started_at = 0.0

    @property
    def server_address(self) -> tuple[str, int]:
        return self.uvicorn.servers[0].sockets[0].getsockname()[:2]

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://{host}:{port}"

    @property
    def served(self) -> int:
        return self.pool.served

    def run(self) -> float:
        """Serve in the foreground until Ctrl-C / SIGTERM (uvicorn finishes the requests in flight, then raises the
        signal again, which ends here); returns the seconds served."""
        self.started_at = time.time()
        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            self.uvicorn.run()
        except (KeyboardInterrupt, _Stopped):
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        return time.time() - self.started_at

    def start(self, timeout: float = 30.0) -> Server:
        """Serve from a background thread; returns once the socket is listening."""
        self.started_at = time.time()
        self._thread = threading.Thread(target=self.uvicorn.run, name="asr-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"asr serve: the server did not start (port {self.uvicorn.config.port} in use?)")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=60)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def make_server(model: Path, host: str = "127.0.0.1", port: int = 8000, max_concurrent: int = 2,
                max_upload_mb: float = 50.0, lm: Path | None = None, decode: str | None = None,
                queue_timeout: float = 60.0, runtime: str = "torch", client_timeout: float = 30.0,
                max_connections: int = 64, max_queue: int = 16, model_id: str | None = None,
                max_streams: int = 4) -> Server:
    if max_concurrent < 1:
        raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
    recognizers = [load_model(model, lm=lm, decode=decode, runtime=runtime) for _ in range(max_concurrent)]
    limits = Limits(int(max_upload_mb * 1024 * 1024), client_timeout, queue_timeout, max_queue, max_connections)
    return Server(recognizers, host, port, limits, model_id or model_id_for(model), max_streams)
