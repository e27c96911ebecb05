"""A local OpenSLR mirror for tests: serves one directory as every resource (``/<n>/<file>``) on 127.0.0.1, with
HTTP Range support like openslr.org, a request log, and injected failures (a connection dropped midway)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Mirror:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.drop_after: dict[str, int] = {}  # file name -> bytes sent before the connection drops (once)
        self.overrides: dict[str, bytes] = {}  # file name -> content served instead of the file
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self.respond(body=False)

            def do_GET(self):
                self.respond(body=True)

            def respond(self, body: bool):
                mirror.requests.append((self.command, self.path, self.headers.get("Range")))
                name = self.path.rstrip("/").rsplit("/", 1)[-1]
                data = mirror.overrides.get(name)
                if data is None:
                    path = mirror.root / name
                    if not path.is_file():
                        self.send_error(404)
                        return
                    data = path.read_bytes()
                start = 0
                range_header = self.headers.get("Range")
                if range_header and range_header.startswith("bytes="):
                    start = int(range_header[6:].split("-")[0] or 0)
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if not body:
                    return
                cut = mirror.drop_after.pop(name, None) if self.command == "GET" else None
                if cut is not None:  # send part of it, then drop the connection
                    self.wfile.write(data[start:start + cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ranged_gets(self, name: str) -> list[str]:
        """The Range headers of the GETs of ``name`` that asked for the rest of a file (not from byte 0)."""
        return [r for m, p, r in self.requests if m == "GET" and p.endswith("/" + name) and r and r != "bytes=0-"]
