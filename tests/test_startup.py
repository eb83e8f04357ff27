"""`evalgate run` imports what a run uses and nothing else (issue 11: start-up is part of every run's wall time).

Each test runs the real command in a fresh interpreter and reads `sys.modules` after it: an allow-list of
third-party packages and of evalgate's own modules, so a new top-level import of scipy, jsonschema, the report
stack or an SDK into the run path fails here (and shows which module came in).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_suite

pytestmark = pytest.mark.slow  # each test starts a fresh interpreter

# the third-party packages a run of a python-provider suite may load: numpy (the metrics) and PyYAML (the config)
RUN_THIRD_PARTY = {"numpy", "yaml"}
RUN_MODULES = {
    "evalgate", "evalgate.cli", "evalgate.commands", "evalgate.commands.run", "evalgate.config",
    "evalgate.config_sections", "evalgate.config_checks", "evalgate.config_schema", "evalgate.config_rules",
    "evalgate.datasets", "evalgate.errors", "evalgate.files.fileio", "evalgate.metrics", "evalgate.metrics.base",
    "evalgate.metrics.build", "evalgate.metrics.error_rate", "evalgate.metrics.latency",
    "evalgate.metrics.matching", "evalgate.metrics.scoring", "evalgate.metrics.usage", "evalgate.metrics.values",
    "evalgate.contracts.cases", "evalgate.contracts.signature", "evalgate.contracts.versions", "evalgate.options", "evalgate.pipeline", "evalgate.progress", "evalgate.providers",
    "evalgate.providers.base", "evalgate.providers.python_fn", "evalgate.results", "evalgate.runner",
    "evalgate.userfunc", "evalgate.yamlio",
    # what a run does besides: exit codes, interrupts and the loop's watchdog, limits of inputs, strict JSON,
    # secrets kept out of the output, the output paths checked before the run
    "evalgate.commands._outputs", "evalgate.process.exitcodes", "evalgate.process.interrupts", "evalgate.files.jsonio", "evalgate.files.limits",
    "evalgate.outbound", "evalgate.process.watchdog",
    # the journal of finished cases (resume, retry-errors); imports started ahead (the client, scoring's numpy)
    "evalgate.journal", "evalgate.preload",
    # the config's checks of names and units, the summary line's units, the warning about unused prices
    "evalgate.names", "evalgate.facts", "evalgate.report.formatting", "evalgate.providers.llm.pricing",
    # the cases' assertions checked when read; each answer shaped (its transform, the prompt kept for the judge)
    "evalgate.assertions", "evalgate.assertion_checks", "evalgate.providers.shaping",
    # the slices of the cases (their names checked when read, aggregated with the metrics)
    "evalgate.slices",
    # the (empty) packages of the side areas those modules live in
    "evalgate.contracts", "evalgate.files", "evalgate.process", "evalgate.report", "evalgate.providers.llm",
}  # fmt: skip

SDK_ENV_PREFIXES = (
    "ANTHROPIC_",
    "OPENAI_",
)  # the SDKs' own settings: a run with any of them keeps no headers

PROBE = """
import json, sys
from evalgate.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def run_and_list_modules(*args: str, cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(SDK_ENV_PREFIXES)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**inherited, "PYTHONPATH": str(ROOT), **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, result.stderr
    return report["modules"]


def third_party(modules: list[str]) -> set[str]:
    tops = {name.split(".")[0] for name in modules}
    return {
        top
        for top in tops
        if top not in sys.stdlib_module_names
        and not top.startswith(("_", "evalgate"))
        and top not in {"__main__", "cython_runtime", "site"}
    }


def python_suite(tmp_path: Path) -> Path:
    cases = "".join(json.dumps({"id": f"c{i}", "input": i, "expected": i}) + "\n" for i in range(20))
    return write_suite(
        tmp_path,
        """
        suite: startup
        datasets: [cases.jsonl]
        provider: {type: python, target: model.py:predict}
        metrics: [accuracy]
        """,
        {"cases.jsonl": cases, "model.py": "def predict(x):\n    return x\n"},
    )


def run_api_suite(folder: Path, provider: str, inputs: list, env: dict[str, str] | None = None) -> list[str]:
    """Write a suite whose `provider:` is the flow mapping `provider`, over cases of these inputs with the cache
    off, run it, and return the modules its run imported."""
    cases = "".join(json.dumps({"id": f"c{i}", "input": value}) + "\n" for i, value in enumerate(inputs))
    write_suite(
        folder,
        f"""
        suite: startup
        datasets: [cases.jsonl]
        provider: {provider}
        metrics: [exact_match]
        cache: {{enabled: false}}
        """,
        {"cases.jsonl": cases},
    )
    return run_and_list_modules("run", "-q", "--output", str(folder / "r.json"), cwd=folder, env=env)


def test_run_imports_only_what_a_run_uses(tmp_path: Path) -> None:
    python_suite(tmp_path)
    modules = run_and_list_modules("run", "-q", "--output", str(tmp_path / "r.json"), cwd=tmp_path)
    assert third_party(modules) <= RUN_THIRD_PARTY, third_party(modules) - RUN_THIRD_PARTY
    ours = {name for name in modules if name.startswith("evalgate.") or name == "evalgate"}
    assert ours <= RUN_MODULES, sorted(ours - RUN_MODULES)
    assert (tmp_path / "r.json").is_file()


def test_nothing_only_scoring_needs_is_imported_before_the_first_call(tmp_path: Path) -> None:
    """numpy (~60 ms of a run's start) is imported while the calls are in flight, not before the first one: the
    model records what was imported when it was first called. The calls run on a thread pool, so "first" is the
    first to take the model's lock (no call gets past it, so none can finish, before that record is written);
    case 0 is not always the first to start."""
    python_suite(tmp_path)
    (tmp_path / "model.py").write_text(
        "import json, sys, threading\n\nLOCK = threading.Lock()\nSEEN = []\n\n\ndef predict(x):\n"
        "    with LOCK:\n"
        "        if not SEEN:\n"
        "            SEEN.append(x)\n"
        "            with open('first_call.json', 'w') as f:\n"
        "                json.dump(sorted(sys.modules), f)\n"
        "    return x\n"
    )
    modules = run_and_list_modules("run", "-q", "--output", str(tmp_path / "r.json"), cwd=tmp_path)
    at_first_call = set(json.loads((tmp_path / "first_call.json").read_text()))
    assert "evalgate.runner" in at_first_call  # the probe ran inside the run
    assert not {"numpy", "jinja2", "scipy"} & at_first_call
    assert "numpy" in modules  # scoring used it


def test_an_llm_run_imports_its_sdk_and_still_no_judging_stack(tmp_path: Path) -> None:
    """The anthropic provider's first run brings its SDK (to take its headers) and the HTTP stack, never scipy,
    jsonschema or the reports; a later run sends the kept headers without importing the SDK."""
    from tests.providers.llm.fake_servers import FakeLLMServer

    with FakeLLMServer() as server:
        modules = run_api_suite(
            tmp_path,
            f'{{type: anthropic, model: claude-haiku-4-5, base_url: "{server.url}"}}',
            [f"q{i}" for i in range(5)],
            env={"ANTHROPIC_API_KEY": "sk-ant-startup-test"},
        )
        # the SDK's headers were kept (evalgate/providers/llm/wire.py): the next run sends them without the SDK
        again = run_and_list_modules(
            "run", "-q", "--output", str(tmp_path / "r.json"), cwd=tmp_path,
            env={"ANTHROPIC_API_KEY": "sk-ant-startup-test"},
        )  # fmt: skip
    assert server.calls == 10
    assert "anthropic" in modules
    assert not {"anthropic", "httpx2", "pydantic"} & set(again)
    forbidden = {
        "jinja2",  # a suite without templates renders none
        "scipy",
        "jsonschema",
        "evalgate.pairing",
        "evalgate.gate",
        "evalgate.report.render",
        "evalgate.history.store",
    }
    assert not forbidden & set(modules)


def test_the_headers_bootstrap_keeps_serve_a_new_suites_first_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scripts/bootstrap.py keeps the SDKs' headers in the user's folder when it installs them: the first run of
    a suite at the default timeout sends them without importing its SDK (0.5-1.1 s before its first call). The
    SDKs' own settings of the installing shell stay out of them (a run without those settings reads the file)."""
    import importlib.util

    from evalgate.providers.llm.wire import user_profile_folder
    from tests.providers.llm.fake_servers import FakeLLMServer

    spec = importlib.util.spec_from_file_location("bootstrap", ROOT / "scripts" / "bootstrap.py")
    assert spec is not None and spec.loader is not None
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    monkeypatch.setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Team: evals")
    bootstrap.keep_sdk_headers(sys.executable)  # into this test's own user cache folder (tests/conftest.py)
    monkeypatch.delenv("ANTHROPIC_CUSTOM_HEADERS")
    folder = user_profile_folder()
    assert folder is not None
    kept = list(folder.iterdir())
    assert len(kept) == 2 and not any("x-team" in path.read_text().lower() for path in kept)
    with FakeLLMServer() as server:
        for vendor, model in (("anthropic", "claude-haiku-4-5"), ("openai", "gpt-4o-mini")):
            suite = tmp_path / vendor
            suite.mkdir()
            base_url = server.url + ("/v1" if vendor == "openai" else "")
            modules = run_api_suite(
                suite,
                f'{{type: {vendor}, model: {model}, base_url: "{base_url}"}}',
                [f"q{i}" for i in range(5)],
                env={"ANTHROPIC_API_KEY": "sk-ant-first", "OPENAI_API_KEY": "sk-first"},
            )
            assert vendor not in modules
            assert not (suite / ".evalgate").exists()  # nothing captured, so nothing kept beside the suite
    assert server.calls == 10


def test_an_http_run_whose_body_sends_the_input_never_imports_jinja2(tmp_path: Path) -> None:
    """`body: {question: "{{ input }}"}` sends each case's input as it is, without Jinja2 (~40 ms before the
    first call); the server gets the inputs, strings and objects alike, unchanged."""
    from tests.providers.llm.fake_servers import CUSTOM_PATH, FakeLLMServer

    inputs = ["q0", {"text": "q1", "tags": ["a", None]}, 2.5, None]
    with FakeLLMServer() as server:
        url = server.url + CUSTOM_PATH
        modules = run_api_suite(
            tmp_path, f'{{type: http, url: "{url}", body: {{question: "{{{{ input }}}}"}}, output_path: result.answer}}',
            inputs,
        )  # fmt: skip
    assert "h11" in modules and "aiohttp" not in modules and "jinja2" not in modules
    sent = [request.body["question"] for request in server.requests]
    assert sorted(map(json.dumps, sent)) == sorted(map(json.dumps, inputs))


def test_help_still_lists_every_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evalgate", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0
    for command in ("run", "gate", "check", "compare", "generate", "history", "thresholds"):
        assert command in result.stdout
