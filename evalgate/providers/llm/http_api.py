"""The `http` provider: a team's own endpoint, called with evalgate's HTTP client (http_client.py: h11 over asyncio,
chosen by bench/llm_throughput.py's measurements).

The request body is a mapping whose string values are Jinja2 templates (a value that is exactly `{{ expr }}`
keeps the expression's type: `{{ input }}` sends the input object itself), or one Jinja2 template of JSON text
(use `{{ input | tojson }}`). The URL and header values may name environment variables as `${NAME}`; their
values are secrets: they are never logged, never in an error message and never in the cache key.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from evalgate.contracts.cases import Case, Output, int_or_none
from evalgate.errors import InputError
from evalgate.options import Option, one_of
from evalgate.outbound import add_secret, redact
from evalgate.providers.llm.answers import json_body
from evalgate.providers.llm.base import LLMProvider
from evalgate.providers.llm.http_errors import HttpStatus, transport_failure
from evalgate.providers.llm.options import CALL_OPTIONS
from evalgate.providers.llm.prompts import Templates, template_context
from evalgate.providers.llm.retry import Failure, ProviderError, failure_for_status

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE_EXPRESSION = re.compile(r"^\{\{(.*)\}\}$", re.DOTALL)
ERROR_BODY_CHARS = 200


def _headers_check(value: Any) -> str | None:
    return None if all(isinstance(v, str) for v in value.values()) else "values must be strings"


def _path_check(value: Any) -> str | None:
    return (
        None if value and all(value.split(".")) else "must be a dotted path such as choices.0.message.content"
    )


class HttpProvider(LLMProvider):
    type = "http"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "url": Option((str,), required=True, help="the endpoint; may name environment variables as ${NAME}"),
        "method": Option((str,), default="POST", check=one_of("POST", "PUT", "PATCH")),
        "headers": Option((dict,), default={}, check=_headers_check, help="values may use ${NAME}"),
        "body": Option(
            (dict, str),
            help="a mapping whose string values are Jinja2 templates, or a Jinja2 template of JSON text",
        ),
        "output_path": Option(
            (str,),
            check=_path_check,
            help="where the answer is in the JSON response, e.g. choices.0.message.content",
        ),
        "tokens_in_path": Option((str,), check=_path_check, help="where the input token count is"),
        "tokens_out_path": Option((str,), check=_path_check, help="where the output token count is"),
        "model": Option((str,), help="the model behind the endpoint, for prices (optional)"),
        **CALL_OPTIONS,
    }

    @classmethod
    def secret_env_names(cls, options: Mapping[str, Any]) -> set[str]:
        headers = options.get("headers")
        texts = [options.get("url"), *(headers.values() if isinstance(headers, Mapping) else ())]
        return {name for text in texts if isinstance(text, str) for name in _ENV_REF.findall(text)}

    def prepare(self) -> None:
        self._url = self._expand(self.options["url"], "url")
        self._headers = {
            name: self._expand(value, f"headers.{name}") for name, value in self.options["headers"].items()
        }
        self._templates = Templates(self.base_dir, config_file=self.config.file, config_line=self.config.line)
        self._body = self._compile_body(self.options.get("body"))

    def _expand(self, text: str, where: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise InputError(
                    f"provider.{where} uses ${{{name}}} but the environment variable {name} is not set",
                    file=self.config.file,
                    line=self.config.line,
                )
            add_secret(os.environ[name])
            return os.environ[name]

        return _ENV_REF.sub(value, text)

    def _compile_body(self, body: Any) -> Callable[[Case], Any]:
        """A function from a case to the JSON body."""
        if body is None:
            return lambda case: {"input": case.input}
        if isinstance(body, str):
            template = self._templates.from_string(body, where="provider.body")

            def from_text(case: Case) -> Any:
                text = self._templates.render(template, template_context(case), case)
                try:
                    return json.loads(text)
                except ValueError as exc:
                    raise InputError(
                        f"provider.body rendered for case {case.id!r} is not JSON ({exc}); "
                        "write strings as {{ input | tojson }}",
                        file=self.config.file,
                        line=self.config.line,
                    ) from None

            return from_text
        return self._compile_value(body, "provider.body")

    def _compile_value(self, value: Any, where: str) -> Callable[[Case], Any]:
        if isinstance(value, dict):
            parts = {key: self._compile_value(item, f"{where}.{key}") for key, item in value.items()}
            return lambda case: {key: part(case) for key, part in parts.items()}
        if isinstance(value, list):
            items = [self._compile_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
            return lambda case: [item(case) for item in items]
        if not isinstance(value, str) or "{" not in value:
            return lambda case: value
        whole = _WHOLE_EXPRESSION.match(value.strip())
        if whole and "{{" not in whole.group(1) and "}}" not in whole.group(1):
            expression = self._templates.expression(whole.group(1).strip(), where=where)
            return lambda case: expression(template_context(case), case)
        template = self._templates.from_string(value, where=where)
        return lambda case: self._templates.render(template, template_context(case), case)

    def endpoint(self) -> str:
        return self.options["method"] + " " + self.options["url"]  # the unexpanded URL: no secret

    def build_request(self, case: Case) -> dict[str, Any]:
        # headers by their unexpanded templates: an answer may depend on a header, a key must not be stored
        return {"headers": dict(self.options["headers"]), "body": self._body(case)}

    def open_client(self) -> Any:
        from evalgate.providers.llm.http_client import Session, Timeouts

        session = Session(self._headers, Timeouts(total=self.options["timeout"]), self.slots)
        return self.checked_session(session, self._url)

    async def send(self, request: dict[str, Any]) -> Output:
        body = json.dumps(request["body"]).encode()
        async with self.client.request(
            self.options["method"], self._url, body, content_type="application/json"
        ) as response:
            content = await response.checked_body()
        data = json_body(content)
        value = _at_path(data, self.options.get("output_path"), "output_path")
        tokens_in = _at_path(data, self.options.get("tokens_in_path"), "tokens_in_path", optional=True)
        tokens_out = _at_path(data, self.options.get("tokens_out_path"), "tokens_out_path", optional=True)
        return Output(value=value, tokens_in=int_or_none(tokens_in), tokens_out=int_or_none(tokens_out))

    def classify(self, exc: Exception) -> Failure | None:
        if isinstance(exc, HttpStatus):
            # redacted before the cut: a server echoing a header back must not leave half of a secret
            excerpt = redact(exc.content.decode("utf-8", errors="replace"))[:ERROR_BODY_CHARS]
            return failure_for_status(exc.status, excerpt, headers=exc.headers)
        return transport_failure(exc, self.options["timeout"])


def _at_path(data: Any, path: str | None, option: str, *, optional: bool = False) -> Any:
    """The value at a dotted path (`choices.0.message.content`); the whole document when path is None."""
    if path is None:
        return None if optional else data
    current = data
    for part in path.split("."):
        if (
            isinstance(current, list)
            and part.lstrip("-").isdigit()
            and -len(current) <= int(part) < len(current)
        ):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            if optional:
                return None
            raise ProviderError(f"malformed response: {option} {path!r} not found (stopped at {part!r})")
    return current
