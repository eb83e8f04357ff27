"""A chat provider on a vendor SDK (anthropic, openai): requests, one SDK client, the SDK's errors, streaming."""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import ssl
import time
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from evalgate.contracts.cases import CallTiming, Case, Output
from evalgate.providers.llm.answers import StreamError, StreamReader, json_body
from evalgate.providers.llm.base import LLMProvider, env_secret
from evalgate.providers.llm.prompts import ChatPrompt, Prompt, Templates
from evalgate.providers.llm.retry import Failure, classify_sdk_error

NO_KEY_PLACEHOLDER = "no-key"  # what an SDK gets as its key for a server that needs none (it insists on one)


def tls_context() -> ssl.SSLContext:
    """The TLS context of every SDK client in this process: the SDK's own default (the CA bundle it finds, or
    the one SSL_CERT_FILE / SSL_CERT_DIR name), made once. Loading the bundle costs 25-70 ms of CPU, which each
    client paid again (a run opens one per provider and one for the judge)."""
    return _tls_context_from(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_context_from(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    import httpcore2  # the SDKs' transport library; it reads the same two variables

    return httpcore2.default_ssl_context()


class SDKChatProvider(LLMProvider):
    """A chat provider on a vendor SDK (anthropic, openai): the request built from the prompt and the options,
    one SDK client for all calls, the SDK's errors.

    How a call goes, each choice measured by bench/llm_throughput.py (docs/providers.md, "Throughput"):
    - the SDK's aiohttp transport (`DefaultAioHttpClient`, its pool sized to the run's concurrency): about half
      the client CPU per call of its default httpx2 transport;
    - the SDK's own request path (`client.post` of the endpoint, with auth, headers, base URL, timeouts and its
      error types) with the request body as built here: the per-method argument transforms cost more CPU than
      the call and change nothing in a body that is already JSON;
    - answers read from the raw JSON, not the SDK's pydantic objects; the SDK's retries off (ours retry, so
      429s also slow the limiter down); its OpenTelemetry spans off unless configured;
    - `stream: true` reads the server-sent events line by line for the time to the first token.
    """

    SDK_CLIENT: ClassVar[str]  # "module:AsyncClientClass"
    API_KEY_ENV: ClassVar[str]
    BASE_URL_ENV: ClassVar[str]
    DEFAULT_BASE_URL: ClassVar[str]
    PATH: ClassVar[str]  # the endpoint, relative to the base URL
    STOP_FIELD: ClassVar[str]  # the request field the stop_sequences option goes to

    @abstractmethod
    def prompt_fields(self, prompt: Prompt) -> dict[str, Any]:
        """The request fields of a rendered prompt (the messages, and the system text where the API wants it)."""

    @abstractmethod
    def parse_answer(self, data: Any) -> Output:
        """The answer and its usage from the response JSON; ProviderError("malformed response: ...")."""

    @abstractmethod
    def stream_fields(self) -> dict[str, Any]:
        """What a streamed request adds to the body (`stream: true`, and what the usage needs)."""

    @abstractmethod
    def stream_reader(self) -> StreamReader:
        """A reader of this API's streamed events."""

    @classmethod
    def api_key_env(cls, options: Mapping[str, Any]) -> str | None:
        """The environment variable holding the API key (given these options); None for a server that needs no key."""
        return cls.API_KEY_ENV

    @classmethod
    def secret_env_names(cls, options: Mapping[str, Any]) -> set[str]:
        env = cls.api_key_env(options)
        return {env} if env else set()

    def prepare(self) -> None:
        env = self.api_key_env(self.options)
        purpose = f"the {self.type} provider"
        self._api_key = (
            env_secret(env, config_file=self.config.file, config_line=self.config.line, purpose=purpose)
            if env
            else NO_KEY_PLACEHOLDER
        )
        templates = Templates(self.base_dir, config_file=self.config.file, config_line=self.config.line)
        self._prompt = ChatPrompt(self.options, templates)

    def task_text(self, case: Case) -> str | None:
        return self._prompt.render(case).text() if self._prompt.templated else None

    def endpoint(self) -> str:
        return self.options.get("base_url") or os.environ.get(self.BASE_URL_ENV) or self.DEFAULT_BASE_URL

    def build_request(self, case: Case) -> dict[str, Any]:
        """The request body; `stream` is not part of it (a streamed answer is the same answer, cached alike)."""
        request: dict[str, Any] = {
            "model": self.options["model"],
            **self.prompt_fields(self._prompt.render(case)),
        }
        for name in ("max_tokens", "temperature"):
            if self.options.get(name) is not None:
                request[name] = self.options[name]
        if self.options.get("stop_sequences"):
            request[self.STOP_FIELD] = list(self.options["stop_sequences"])
        request.update(self.options.get("extra") or {})
        return request

    def sdk(self) -> Any:
        return importlib.import_module(self.SDK_CLIENT.partition(":")[0])

    def import_library(self) -> None:
        self.sdk()
        importlib.import_module("httpx2")

    def open_client(self) -> Any:
        import httpx2

        sdk = self.sdk()
        client_class = getattr(sdk, self.SDK_CLIENT.partition(":")[2])
        timeout = self.options["timeout"]
        options: dict[str, Any] = {
            "api_key": self._api_key,
            "base_url": self.endpoint(),
            "max_retries": 0,
            "timeout": timeout,
            "http_client": sdk.DefaultAioHttpClient(
                timeout=timeout,
                limits=httpx2.Limits(max_connections=self.slots, max_keepalive_connections=self.slots),
                verify=tls_context(),
            ),
        }
        # SDKs that trace their calls with OpenTelemetry spend about 7% of a call's CPU on spans nobody records
        # in a CLI run: off, unless the user configured tracing through the SDK's environment variables
        telemetry_env = self.SDK_CLIENT.partition(":")[0].upper() + "_OPEN_TELEMETRY"
        if "open_telemetry" in inspect.signature(client_class).parameters and not any(
            name.startswith(telemetry_env) for name in os.environ
        ):
            options["open_telemetry"] = False
        client = client_class(**options)
        client.default_headers  # noqa: B018 - the SDK computes its platform headers once: here, not in a call
        return client

    async def send(self, request: dict[str, Any]) -> Output:
        import httpx2

        if self.options.get("stream"):
            return await self._send_streamed(request)
        response = await self.client.post(self.PATH, body=request, cast_to=httpx2.Response)
        return self.parse_answer(json_body(response.content))

    async def _send_streamed(self, request: dict[str, Any]) -> Output:
        import httpx2

        sent = time.perf_counter()
        response = await self.client.post(
            self.PATH, body={**request, **self.stream_fields()}, cast_to=httpx2.Response, stream=True
        )
        reader = self.stream_reader()
        first_token: float | None = None
        try:
            async for line in response.aiter_lines():
                if reader.feed(line) and first_token is None:
                    first_token = time.perf_counter()
        finally:
            await response.aclose()
        output = reader.output()
        ttft = None if first_token is None else (first_token - sent) * 1000.0
        output.timing = CallTiming(ttft_ms=ttft)  # the rest of the timing is the base class's to fill in
        return output

    def classify(self, exc: Exception) -> Failure | None:
        if isinstance(exc, StreamError):
            return exc.failure
        return classify_sdk_error(self.sdk(), exc, self.options["timeout"])
