"""A chat provider of a vendor API (anthropic, openai): requests, the SDK's headers, errors, streaming."""

from __future__ import annotations

import json
import os
import time
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from evalgate.contracts.cases import CallTiming, Case, Output
from evalgate.errors import RunAborted
from evalgate.providers.llm.answers import StreamError, StreamReader, json_body
from evalgate.providers.llm.base import LLMProvider, env_secret
from evalgate.providers.llm.http_errors import HttpStatus, transport_failure
from evalgate.providers.llm.options import CALL_OPTIONS
from evalgate.providers.llm.prompts import ChatPrompt, Prompt, Templates
from evalgate.providers.llm.retry import Failure, ProviderError, failure_for_api_error
from evalgate.providers.llm.wire import SDKCall, prime, sdk_headers, user_profile_folder

NO_KEY_PLACEHOLDER = "no-key"  # what an SDK gets as its key for a server that needs none (it insists on one)


class SDKChatProvider(LLMProvider):
    """A chat provider of a vendor API (anthropic, openai): the request built from the prompt and the options,
    sent as the vendor's SDK sends it.

    How a call goes, each choice measured by bench/llm_throughput.py (docs/providers.md, "Throughput"):
    - the SDK is the contract of what is sent: its headers (auth, API version, user agent, platform) are those
      of one call of its public method, captured once per SDK version (providers/llm/wire.py), so a run
      normally never imports the SDK (a second or more of CPU for its types);
    - each request goes out on one session of evalgate's HTTP client (http_client.py: h11 over asyncio, its pool
      sized to the run's concurrency) with those headers and the body encoded as the SDK encodes it: a fraction
      of the client CPU per call of the SDK's own request path, even on the SDK's aiohttp transport;
    - answers are read from the raw JSON; an error status is classified from its JSON body as the SDK's error
      classes carry it; retries are ours (so 429s also slow the limiter down);
    - `stream: true` reads the server-sent events line by line for the time to the first token.
    """

    SDK: ClassVar[str]  # the package
    SDK_CLIENT: ClassVar[str]  # its async client class
    SDK_METHOD: ClassVar[str]  # the client's public method for this endpoint, a dotted path
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

    def sdk_call(self) -> SDKCall:
        key_env = self.api_key_env(self.options)
        return self.endpoint_call({self.API_KEY_ENV, self.BASE_URL_ENV, *([key_env] if key_env else [])})

    @classmethod
    def endpoint_call(cls, own_env: set[str]) -> SDKCall:
        """The SDK call whose headers this provider sends; `own_env`: the variables evalgate sets itself."""
        return SDKCall(cls.SDK, cls.SDK_CLIENT, cls.SDK_METHOD, cls.PATH, frozenset(own_env))

    def import_library(self) -> None:
        """The HTTP client, and the SDK's headers; RunAborted when the SDK cannot give them (evalgate's failure,
        never the model's: no case is sent)."""
        super().import_library()
        try:
            self._headers = sdk_headers(
                self.sdk_call(),
                api_key=self._api_key,
                base_url=self.endpoint(),
                timeout=self.options["timeout"],
                base_dir=self.base_dir,
            )
        except Exception as exc:
            raise RunAborted(
                f"the {self.SDK} SDK did not give its headers ({type(exc).__name__}: {exc})"
            ) from exc

    def open_client(self) -> Any:
        from evalgate.providers.llm.http_client import Session, Timeouts

        timeout = self.options["timeout"]  # as the SDK's: to connect, and between two reads
        return self.checked_session(
            Session(self._headers, Timeouts(connect=timeout, read=timeout), self.slots), self.url()
        )

    def url(self) -> str:
        return self.endpoint().rstrip("/") + self.PATH

    async def send(self, request: dict[str, Any]) -> Output:
        if self.options.get("stream"):
            return await self._send_streamed(request)
        async with self.client.post(self.url(), encoded(request)) as response:
            content = await response.checked_body()
        return self.parse_answer(json_body(content))

    async def _send_streamed(self, request: dict[str, Any]) -> Output:
        sent = time.perf_counter()
        reader = self.stream_reader()
        first_token: float | None = None
        async with self.client.post(self.url(), encoded({**request, **self.stream_fields()})) as response:
            if response.failed:
                await response.checked_body()  # raises HttpStatus
            async for line in response.lines():  # each up to MAX_STREAM_LINE_BYTES
                if reader.feed(stream_line(line)) and first_token is None:
                    first_token = time.perf_counter()
        output = reader.output()
        ttft = None if first_token is None else (first_token - sent) * 1000.0
        output.timing = CallTiming(ttft_ms=ttft)  # the rest of the timing is the base class's to fill in
        return output

    def classify(self, exc: Exception) -> Failure | None:
        if isinstance(exc, StreamError):
            return exc.failure
        if isinstance(exc, HttpStatus):
            return failure_for_api_error(exc.status, exc.content, exc.headers)
        return transport_failure(exc, self.options["timeout"])


def encoded(request: dict[str, Any]) -> bytes:
    """The request body as the SDKs encode it (compact UTF-8 JSON, no NaN)."""
    return json.dumps(request, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def stream_line(line: bytes) -> str:
    """One line of a streamed answer as text; ProviderError("malformed response: ...") when it is not UTF-8."""
    try:
        return line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ProviderError("malformed response: a streamed line is not UTF-8") from None


def prime_headers(folder: str | Path) -> list[Path]:
    """Keep the headers of every SDK provider, at the default timeout, in `folder`: the Action's prebuilt image
    does this when it is built (the Dockerfile's step 3, its EVALGATE_SDK_PROFILES), so a run in a fresh checkout
    never imports an SDK."""
    return prime(folder, _sdk_calls(), CALL_OPTIONS["timeout"].default)


def keep_user_headers() -> list[Path]:
    """Keep the headers of every SDK provider, at the default timeout, in the user's folder of kept headers
    (scripts/bootstrap.py, when it installs the SDKs), so a new suite's first run never imports an SDK. Run it in a
    process of its own: the SDKs' own variables (`ANTHROPIC_*`, `OPENAI_*`: `SDKCall.env_prefix`) are removed from
    its environment first, so the headers kept are those a run without them sends (a run with them neither
    reads nor keeps any)."""
    folder = user_profile_folder()
    if folder is None:
        return []
    calls = _sdk_calls()
    for name in [name for name in os.environ if name.startswith(tuple(call.env_prefix() for call in calls))]:
        del os.environ[name]
    return prime(folder, calls, CALL_OPTIONS["timeout"].default)


def _sdk_calls() -> list[SDKCall]:
    from evalgate.providers import PROVIDER_CLASSES, provider_class

    classes = [provider_class(name) for name in PROVIDER_CLASSES]
    return [cls.endpoint_call(set()) for cls in classes if issubclass(cls, SDKChatProvider)]
