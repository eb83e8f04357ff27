"""Providers: the model under test. A registry by `type`, imported lazily so an unused SDK costs nothing."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.errors import InputError
from evalgate.preload import import_ahead

if TYPE_CHECKING:
    from evalgate.providers.base import Provider

# type -> "module:Class"; each class has OPTIONS (dict[str, evalgate.options.Option]) besides `type`
PROVIDER_CLASSES: dict[str, str] = {
    "python": "evalgate.providers.python_fn:PythonProvider",
    "command": "evalgate.providers.command:CommandProvider",
    "anthropic": "evalgate.providers.llm.anthropic_api:AnthropicProvider",
    "openai": "evalgate.providers.llm.openai_api:OpenAIProvider",
    "http": "evalgate.providers.llm.http_api:HttpProvider",
}


def provider_class(type_name: str) -> type[Provider]:
    if type_name not in PROVIDER_CLASSES:
        raise KeyError(type_name)
    module_name, _, class_name = PROVIDER_CLASSES[type_name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def secret_env_names(section: Any) -> set[str]:
    """The environment variables a provider section, as written in a config, reads secrets from (none for a
    section that is not a provider evalgate knows: the engine reports that)."""
    if not isinstance(section, Mapping) or section.get("type") not in PROVIDER_CLASSES:
        return set()
    return provider_class(section["type"]).secret_env_names(section)


def preload(config: Any, *, cache_enabled: bool) -> None:
    """Import the client library of the provider `config` describes (its CLIENT_MODULES: evalgate's HTTP client
    and h11, ~20 ms) in a daemon thread, now, when every call will need it (the cache is off): the import
    overlaps reading the datasets and building the metrics instead of delaying the first call. The provider's own import
    (LLMProvider.ready) finds it done, or waits for it through Python's module lock; a failure here is left to
    that import to report. With the cache on, a run may be answered from the cache alone and never import it."""
    try:
        modules = provider_class(config.type).CLIENT_MODULES
    except (KeyError, ImportError):  # create_provider reports it
        return
    if not cache_enabled:
        import_ahead(modules, name="evalgate-preload")


def create_provider(config: Any, base_dir: Path) -> Provider:
    """Instantiate the provider described by a ProviderConfig (see evalgate.config)."""
    try:
        cls = provider_class(config.type)
    except (KeyError, ImportError) as exc:
        raise InputError(
            f"provider type {config.type!r} is not available ({exc})", file=config.file
        ) from None
    return cls(config, base_dir)
