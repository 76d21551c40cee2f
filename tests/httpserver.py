"""Throwaway HTTP servers on 127.0.0.1 for tests.

:class:`LocalServer` runs any request handler on a random port in a daemon thread;
:func:`json_handler` is the handler of the fake chat APIs (JSON over keep-alive
connections); :class:`FileServer` is a file server that can misbehave on request.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 resets connections under a burst of clients (bench.chat).
    request_queue_size = 128


class LocalServer:
    """``handler`` served on 127.0.0.1 (random port) from a daemon thread, one thread per
    connection; a context manager that stops it on exit."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str = "test-server") -> None:
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                        daemon=True, name=name)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


# answer(method, path, headers, body) -> (status, JSON value; None for no body; bytes for a
# file), optionally
# with extra response headers as a third item; a status of None answers nothing and resets
# the connection.
Answer = Callable[[str, str, Any, bytes], tuple[Any, ...]]


def json_handler(answer: Answer, server_version: str = "Fake/1.0") -> type[BaseHTTPRequestHandler]:
    """A quiet HTTP/1.1 (keep-alive) handler that answers every request with JSON."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers + body cost a 40 ms delayed ACK

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def handle(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                super().handle()  # clients drop connections they no longer need

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, payload, *extra = answer(self.command, self.path, self.headers, body)
            if status is None:
                self._reset()
                return
            # Bytes are a file (a download), sent as they are; anything else is JSON.
            raw = isinstance(payload, bytes)
            data = payload if raw else b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if raw
                             else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra[0] if extra else {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _reset(self) -> None:
            """Close with a TCP reset, no FIN first: what a dropped link looks like to the
            client (ECONNRESET while it waits for the answer)."""
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    Handler.server_version = server_version
    return Handler


class FileServer(LocalServer):
    """Serves ``files`` (path -> bytes), honours ``Range`` like real static servers, and
    for a path in ``truncate_once`` sends only half the body (with the full
    Content-Length) the first time, to simulate a dropped connection."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate_once: set[str] = set()
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                range_header = self.headers.get("Range")
                server.requests.append((self.path, range_header))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                if range_header and not server.ignore_range:
                    start = int(range_header.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416, "Range Not Satisfiable")
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                chunk = body[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                if self.path in server.truncate_once:
                    server.truncate_once.discard(self.path)
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        super().__init__(Handler, name="file-server")


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
