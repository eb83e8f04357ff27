"""Prompt templates: Jinja2 files or inline templates of the config, checked before any call, rendered per case."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.contracts.cases import Case, conversation_messages
from evalgate.errors import InputError
from evalgate.files.fileio import read_text
from evalgate.files.limits import MAX_TEXT_FILE_BYTES

# Jinja2 (~20 ms) is imported with the first template: a chat provider without one never needs it
if TYPE_CHECKING:
    import jinja2

# the names a prompt template sees; `expected` is deliberately absent (it would leak the answer)
PROMPT_VARIABLES = ("input", "metadata", "id", "category")


@dataclass
class Prompt:
    """A rendered prompt: the system text (or None) and the messages ({role, content})."""

    system: str | None
    messages: list[dict[str, str]]

    def text(self) -> str:
        """The prompt as one text (what the judge is shown as the task): each part under its role."""
        parts = [("system", self.system)] if self.system else []
        parts += [(message["role"], message["content"]) for message in self.messages]
        return "\n\n".join(f"[{role}]\n{content}" for role, content in parts)


def default_user_text(value: Any) -> str:
    """The user message when there is no template: the input itself, or its JSON text when not a string."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def template_context(case: Case) -> dict[str, Any]:
    return {"input": case.input, "metadata": case.metadata, "id": case.id, "category": case.category}


class Templates:
    """Jinja2 templates read relative to the config folder, with undefined names as errors.

    Problems found before any call (a missing file, a syntax error, a name a template cannot see) and problems
    found while rendering a case (an attribute that case lacks) are both bad input: InputError, exit 2.
    """

    def __init__(self, base_dir: Path, *, config_file: str, config_line: int | None) -> None:
        self.base_dir = base_dir
        self.config_file = config_file
        self.config_line = config_line

    @functools.cached_property
    def env(self) -> jinja2.Environment:
        import jinja2

        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.base_dir)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )

    def from_file(self, relative: str) -> jinja2.Template:
        import jinja2

        path = self.base_dir / relative
        if not path.exists():
            raise InputError(
                f"prompt template {relative!r} not found (looked for {path})",
                file=self.config_file,
                line=self.config_line,
            )
        source = read_text(path, what="template", max_bytes=MAX_TEXT_FILE_BYTES)
        self._check_names(source, file=str(path), line=None)
        try:
            return self.env.get_template(Path(relative).as_posix())
        except jinja2.TemplateNotFound as exc:
            raise InputError(
                f"template {exc.name!r} not found in the config folder {self.base_dir} (it may not leave it)",
                file=self.config_file,
                line=self.config_line,
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                f"template syntax error: {exc.message}", file=exc.filename or path, line=exc.lineno
            ) from None

    def from_string(self, source: str, *, where: str) -> jinja2.Template:
        """An inline template written in the config (`where` names the key in messages)."""
        import jinja2

        self._check_names(source, file=self.config_file, line=self.config_line, where=where)
        try:
            return self.env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                f"{where}: template syntax error: {exc.message}", file=self.config_file, line=self.config_line
            ) from None

    def system_template(self, value: str) -> jinja2.Template:
        """`system` is a template file when it names a .j2 file, otherwise an inline template."""
        if value.endswith(".j2") and "\n" not in value:
            return self.from_file(value)
        return self.from_string(value, where="provider.system")

    def _check_names(self, source: str, *, file: str, line: int | None, where: str = "") -> None:
        import jinja2
        import jinja2.meta

        try:
            names = jinja2.meta.find_undeclared_variables(self.env.parse(source))
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                f"{where + ': ' if where else ''}template syntax error: {exc.message}",
                file=file,
                line=exc.lineno if not where else line,
            ) from None
        unknown = sorted(names - set(PROMPT_VARIABLES) - set(self.env.globals))
        if unknown:
            hint = " (the expected answer is never shown to the model)" if "expected" in unknown else ""
            raise InputError(
                f"{where + ': ' if where else ''}the template uses {', '.join(unknown)}{hint}; "
                f"a template sees {', '.join(PROMPT_VARIABLES)}",
                file=file,
                line=line,
            )

    def expression(self, source: str, *, where: str) -> Callable[[Mapping[str, Any], Case], Any]:
        """An inline `{{ expr }}` kept as an expression: a function of a case's context (and the case, named in a
        failure) that returns the expression's value, of any type. A bare name a template sees (`input`, the
        commonest body of an http provider) is that name's value, looked up without Jinja2 (~40 ms of import
        before the first call): every context holds every one of those names, so Jinja2 would return the same."""
        if source in PROMPT_VARIABLES:
            return lambda context, case: context[source]
        import jinja2

        self._check_names("{{ " + source + " }}", file=self.config_file, line=self.config_line, where=where)
        try:
            compiled = self.env.compile_expression(source, undefined_to_none=False)
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                f"{where}: template syntax error: {exc.message}", file=self.config_file, line=self.config_line
            ) from None

        def evaluate(context: Mapping[str, Any], case: Case) -> Any:
            def value() -> Any:
                result = compiled(**context)
                if isinstance(result, jinja2.Undefined):
                    result._fail_with_undefined_error()
                return result

            return self._guarded(value, case, self.config_file)

        return evaluate

    def render(self, template: jinja2.Template, context: Mapping[str, Any], case: Case) -> str:
        """Render for one case; a failure names the template, the problem and the case."""
        return self._guarded(lambda: template.render(context), case, template.filename or self.config_file)

    def _guarded(self, render: Callable[[], Any], case: Case, file: str) -> Any:
        import jinja2

        try:
            return render()
        except jinja2.UndefinedError as exc:
            problem = exc.message
        except jinja2.TemplateError as exc:
            problem = str(exc)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        raise InputError(f"rendering case {case.id!r} ({case.source or 'no source'}): {problem}", file=file)


class ChatPrompt:
    """Builds the system text and messages of a chat provider from its options."""

    def __init__(self, options: Mapping[str, Any], templates: Templates) -> None:
        if options.get("prompt") and options.get("messages"):
            raise InputError(
                "use either prompt (a template file) or messages, not both",
                file=templates.config_file,
                line=templates.config_line,
            )
        self.templates = templates
        self.system = templates.system_template(options["system"]) if options.get("system") else None
        self.messages: list[tuple[str, jinja2.Template]] | None = None
        if options.get("prompt"):
            self.messages = [("user", templates.from_file(options["prompt"]))]
        elif options.get("messages"):
            self.messages = [
                (item["role"], templates.from_string(item["content"], where=f"provider.messages[{index}]"))
                for index, item in enumerate(options["messages"])
            ]

    @property
    def templated(self) -> bool:
        """Whether the prompt comes from templates (a system text, a prompt file or messages), not the input."""
        return self.system is not None or self.messages is not None

    def render(self, case: Case) -> Prompt:
        context = template_context(case)
        system = self.templates.render(self.system, context, case) if self.system else None
        if self.messages is None:  # a conversation input is sent as its messages, anything else as one
            messages = conversation_messages(case.input)
            return Prompt(system, messages or [{"role": "user", "content": default_user_text(case.input)}])
        return Prompt(
            system,
            [
                {"role": role, "content": self.templates.render(template, context, case)}
                for role, template in self.messages
            ],
        )
