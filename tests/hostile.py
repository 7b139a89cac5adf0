"""A test-only hostile HTTP server on 127.0.0.1: it answers whatever a test scripts, byte for byte.

Replies can lie about ids, drop list keys, redirect, trickle one byte at a time,
close mid-body, claim a Content-Length they never send, or gzip-bomb the client.
It records every request (path, headers, body) so tests can assert what reached it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    status: int = 200
    body: bytes | Any = b""  # bytes as they are, anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float | None = None  # seconds between bytes of the body
    cut_after: int | None = None  # send this many bytes of the body, then close the connection
    content_length: int | None = None  # the header to claim (default: the true length)

    def payload(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


Route = Callable[[dict[str, Any]], Reply]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HostileServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.default: Route = lambda params: Reply(404, {"success": False, "errors": ["no route"]})
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_CONNECT(self) -> None:  # noqa: N802 - as an https proxy would be asked
                server._record(Seen("CONNECT", self.path, dict(self.headers), b""))
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802
                self._answer(b"")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(length))

            def _answer(self, body: bytes) -> None:
                server._record(Seen(self.command, self.path, dict(self.headers), body))
                endpoint = self.path.split("/api/v2/", 1)[-1].strip("/")
                try:
                    params = json.loads(body or b"{}")
                except ValueError:
                    params = {}
                reply = server.routes.get(endpoint, server.default)(params)
                payload = reply.payload()
                head = [f"HTTP/1.1 {reply.status} Hostile", f"Content-Length: {reply.content_length if reply.content_length is not None else len(payload)}"]
                head += [f"{k}: {v}" for k, v in {"Content-Type": "application/json", **reply.headers}.items()]
                try:
                    self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode())
                    if reply.cut_after is not None:
                        self.wfile.write(payload[:reply.cut_after])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                    elif reply.trickle is not None:
                        for index in range(len(payload)):
                            self.wfile.write(payload[index:index + 1])
                            self.wfile.flush()
                            time.sleep(reply.trickle)
                    else:
                        self.wfile.write(payload)
                except OSError:
                    self.close_connection = True

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            allow_reuse_address = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def calls(self, endpoint: str) -> list[Seen]:
        return [s for s in self.seen if s.path.rstrip("/").endswith("/api/v2/" + endpoint)]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2"

    def start(self) -> "HostileServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def ok(**fields: Any) -> Reply:
    return Reply(200, {"success": True, "errors": [], **fields})


def summary(backtest_id: str, **fields: Any) -> dict[str, Any]:
    return {"backtestId": backtest_id, "name": f"run {backtest_id[:6]}", "created": "2026-01-02 10:00:00", "status": "Completed.",
            "progress": 1, "optimizationId": "", "tags": [], **fields}
