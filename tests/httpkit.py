"""The tests' stand-in HTTP servers on 127.0.0.1: one thread each, started and stopped the same way everywhere."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server serving from a daemon thread until `close()`.

    Its listen backlog is as deep as any client's concurrency: socketserver's default of 5 drops the SYNs of a
    burst of new connections, which the client sends again 1 s and then 3 s later (whole seconds of nothing in a
    test of 32 concurrent judge calls). It polls for shutdown every 10 ms, not socketserver's 0.5 s, which every
    test's teardown would wait."""

    request_queue_size = 1024
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self.shutdown()
            self._thread.join()
        self.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
