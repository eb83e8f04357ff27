"""A real HTTP server on 127.0.0.1 speaking the Anthropic Messages API (POST /v1/messages), for judge tests.

`responder(request_json) -> str` decides the assistant's text; the reply has the real response shape
(id, type, role, model, content[{type: text, text}], stop_reason, usage).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from httpkit import LocalServer

Responder = Callable[[dict[str, Any]], str]


def user_text(request: dict[str, Any]) -> str:
    """The text of the last user message of a Messages API request."""
    content = request["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content)


class AnthropicStub:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responder: Responder = lambda request: "{}"
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                request = json.loads(self.rfile.read(length))
                if self.path.rstrip("/") != "/v1/messages":
                    self._send(
                        404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}}
                    )
                    return
                with stub._lock:
                    stub.requests.append(request)
                try:
                    text = stub.responder(request)
                except Exception as exc:  # a failing responder is a server error, as the API would send
                    self._send(500, {"type": "error", "error": {"type": "api_error", "message": str(exc)}})
                    return
                self._send(
                    200,
                    {
                        "id": f"msg_{len(stub.requests):06d}",
                        "type": "message",
                        "role": "assistant",
                        "model": request["model"],
                        "content": [{"type": "text", "text": text}],
                        "stop_reason": "end_turn",
                        "stop_sequence": None,
                        "usage": {
                            "input_tokens": len(user_text(request).split()),
                            "output_tokens": len(text.split()),
                        },
                    },
                )

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nobody to answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = LocalServer(Handler)
        self.url = self.server.base_url

    def __enter__(self) -> AnthropicStub:
        self.server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.close()

    def prompts(self) -> list[str]:
        return [user_text(request) for request in self.requests]
