"""The provider interface the runner drives."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from evalgate.contracts.cases import Case, Output
from evalgate.options import Option


class Provider(ABC):
    """A model under test.

    Lifecycle: `await start(slots)` once (slots = the run's concurrency), then `await complete(case)` from up to
    `slots` tasks at once, then `await close()`. `complete` returns an Output (or anything
    `evalgate.contracts.cases.normalize_output` accepts) or raises: any exception becomes that case's error, except
    `evalgate.errors.RunAborted`, which stops the run. The runner enforces the per-case timeout by cancelling
    `complete`; a provider must leave itself usable after a cancellation (restart a worker, drop a connection).
    """

    type: ClassVar[str]
    OPTIONS: ClassVar[dict[str, Option]]
    # modules every call needs that start-up does not import (an HTTP client): `evalgate.providers.preload`
    # imports them while the datasets are read, so the import never delays the first call
    CLIENT_MODULES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any, base_dir: Path) -> None:
        self.config = config  # evalgate.config.ProviderConfig; config.options holds the checked OPTIONS
        self.options: dict[str, Any] = config.options
        self.base_dir = base_dir

    def configure_run(self, suite: Any) -> Any:  # noqa: B027 - optional hook
        """Take the suite-wide settings of this run (cache, budget, prices) before start()."""

    @classmethod
    def secret_env_names(cls, options: Mapping[str, Any]) -> set[str]:
        """The environment variables these options (as written in the config) read secrets from: the Action
        masks their values in the log before the engine starts."""
        return set()

    async def start(self, slots: int, calls: int | None = None) -> None:  # noqa: B027 - optional hook
        """Prepare for up to `slots` concurrent calls, `calls` in all when known."""

    @abstractmethod
    async def complete(self, case: Case) -> Output | Any:
        """Answer one case."""

    def task_text(self, case: Case) -> str | None:
        """The prompt this case was asked with, when the provider renders one from a template (the judge is
        shown it as the task: evalgate.judge.task); None when the case's input is all the model got."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers, sessions and files."""

    def fingerprint(self) -> str:
        """What identifies this model under test in the results signature (no secrets)."""
        return (
            self.type
            + ":"
            + hashlib.sha256(json.dumps(self.options, sort_keys=True, default=str).encode()).hexdigest()[:16]
        )
