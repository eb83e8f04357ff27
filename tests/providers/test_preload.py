"""Imports started ahead (evalgate.preload): the provider's client library while the datasets are read, when every
call will need it; what scoring needs while the calls are in flight."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from evalgate import providers
from evalgate.config import ProviderConfig
from tests.conftest import write_suite

PROVIDER = """
from evalgate.providers.base import Provider


class ProbeProvider(Provider):
    type = "probe"
    OPTIONS = {{}}
    CLIENT_MODULES = ({modules})

    async def complete(self, case):
        return case.input
"""


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """A provider type (`probe`, or `kind`) whose client library is `modules` (each `*_client` module named
    there is written, recording the thread that imported it)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(*modules: str, kind: str = "probe") -> ProviderConfig:
        for module in modules:
            if module.endswith("_client"):
                (tmp_path / f"{module}.py").write_text(
                    "import threading\n\nIMPORTED_BY = threading.current_thread().name\n"
                )
        (tmp_path / f"{kind}_provider.py").write_text(
            PROVIDER.format(modules="".join(f"{m!r}, " for m in modules)).replace(
                'type = "probe"', f'type = "{kind}"'
            )
        )
        monkeypatch.setitem(providers.PROVIDER_CLASSES, kind, f"{kind}_provider:ProbeProvider")
        made.extend([*modules, f"{kind}_provider"])
        return ProviderConfig(type=kind, name="p", options={}, file="evalgate.yaml")

    yield make
    for name in made:
        sys.modules.pop(name, None)


def preloads_finished(name: str = "evalgate-preload") -> None:
    deadline = time.monotonic() + 10
    while any(thread.name == name for thread in threading.enumerate()):
        assert time.monotonic() < deadline, "the preload never ended"
        time.sleep(0.005)


def test_with_the_cache_off_the_client_library_is_imported_in_a_thread_of_its_own(probe) -> None:
    providers.preload(probe("probe_client"), cache_enabled=False)
    preloads_finished()
    assert sys.modules["probe_client"].IMPORTED_BY == "evalgate-preload"


def test_with_the_cache_on_a_run_may_never_call_and_imports_nothing_ahead(probe) -> None:
    providers.preload(probe("probe_client"), cache_enabled=True)
    preloads_finished()
    assert "probe_client" not in sys.modules


def test_a_library_that_cannot_be_imported_is_left_to_the_providers_own_import(probe) -> None:
    providers.preload(probe("evalgate_no_such_client_library", "probe_client"), cache_enabled=False)
    preloads_finished()  # no exception escapes the thread, and the next module is still imported
    assert sys.modules["probe_client"].IMPORTED_BY == "evalgate-preload"


def test_an_unknown_provider_type_is_left_to_create_provider() -> None:
    config = ProviderConfig(type="no-such-type", name="p", options={}, file="evalgate.yaml")
    providers.preload(config, cache_enabled=False)  # create_provider says it is not available
    assert not any(thread.name == "evalgate-preload" for thread in threading.enumerate())


def test_the_llm_providers_preload_the_http_client_they_send_with() -> None:
    for type_name in ("http", "openai", "anthropic"):
        assert providers.provider_class(type_name).CLIENT_MODULES == ("evalgate.providers.llm.http_client",)
    assert providers.provider_class("python").CLIENT_MODULES == ()


@pytest.mark.parametrize("cache", [False, True])
def test_evalgate_run_starts_the_import_before_reading_the_datasets(probe, tmp_path, cache) -> None:
    from evalgate.cli import main

    probe("probe_client")
    config = write_suite(
        tmp_path,
        f"""
        suite: preload
        datasets: [cases.jsonl]
        provider: {{type: probe}}
        metrics: [exact_match]
        cache: {{enabled: {str(cache).lower()}}}
        """,
        {"cases.jsonl": '{"id": "c1", "input": "a", "expected": "a"}\n'},
    )
    code = main(["run", "-q", "--config", str(config), "--output", str(tmp_path / "r.json")])
    preloads_finished()
    assert code == 0
    if cache:
        assert "probe_client" not in sys.modules
    else:
        assert sys.modules["probe_client"].IMPORTED_BY == "evalgate-preload"


METRIC = """
import sys

from evalgate.metrics.matching import ExactMatch

SEEN_AT_FIRST_CALL = []


class ProbeMetric(ExactMatch):
    family = "probe_metric"
    SCORING_MODULES = ("probe_scoring",)
"""


def test_what_scoring_needs_is_imported_while_the_calls_are_in_flight(probe, tmp_path, monkeypatch) -> None:
    """A metric's SCORING_MODULES are imported on a thread of their own once the first case has its answer,
    not before the first call and not after the last."""
    from evalgate import metrics
    from evalgate.cli import main

    (tmp_path / "probe_scoring.py").write_text(
        "import threading\n\nIMPORTED_BY = threading.current_thread().name\n"
    )
    (tmp_path / "probe_metric.py").write_text(METRIC)
    (tmp_path / "probe_seen.py").write_text("CALLS = []\n")
    monkeypatch.setitem(metrics.FAMILIES, "probe_metric", "probe_metric:ProbeMetric")
    probe()
    (tmp_path / "probe_provider.py").write_text(
        PROVIDER.format(modules="").replace(
            "        return case.input",
            "        import asyncio, sys, probe_seen\n"
            "        probe_seen.CALLS.append('probe_scoring' in sys.modules)\n"
            "        await asyncio.sleep(0.05)\n"
            "        probe_seen.CALLS.append('probe_scoring' in sys.modules)\n"
            "        return case.input",
        )
    )
    config = write_suite(
        tmp_path,
        """
        suite: scoring-imports
        datasets: [cases.jsonl]
        provider: {type: probe}
        metrics: [probe_metric]
        concurrency: 1
        """,
        {"cases.jsonl": "".join(f'{{"id": "c{i}", "input": "a", "expected": "a"}}\n' for i in range(4))},
    )
    try:
        code = main(["run", "-q", "--config", str(config), "--output", str(tmp_path / "r.json")])
        preloads_finished("evalgate-scoring-imports")
        assert code == 0
        calls = sys.modules["probe_seen"].CALLS
        assert calls[:2] == [False, False]  # the first call: nothing imported before or during it
        assert calls[-1] is True  # by the last call's end, the import was done
        assert sys.modules["probe_scoring"].IMPORTED_BY == "evalgate-scoring-imports"
    finally:
        for name in ("probe_scoring", "probe_metric", "probe_seen"):
            sys.modules.pop(name, None)


def test_a_suite_of_tasks_starts_every_tasks_client_import_before_its_first_task_runs(
    probe, tmp_path
) -> None:
    """`evalgate run` starts the imports of every task's client as soon as the config is read: the second task's
    provider finds its library imported by the preload, not by itself."""
    from evalgate.cli import main

    probe("a_client", kind="probe_a")
    probe("b_client", kind="probe_b")
    config = write_suite(
        tmp_path,
        """
        suite: preload-tasks
        metrics: [exact_match]
        cache: {enabled: false}
        tasks:
          first: {datasets: [cases.jsonl], provider: {type: probe_a}}
          second: {datasets: [cases.jsonl], provider: {type: probe_b}}
        """,
        {"cases.jsonl": '{"id": "c1", "input": "a", "expected": "a"}\n'},
    )
    code = main(["run", "-q", "--config", str(config), "--output", str(tmp_path / "r.json")])
    preloads_finished()
    assert code == 0
    assert sys.modules["a_client"].IMPORTED_BY == "evalgate-preload"
    assert sys.modules["b_client"].IMPORTED_BY == "evalgate-preload"
