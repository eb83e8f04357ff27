"""The python provider: sync and async targets, the optional case parameter, kwargs, threads, bad targets."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evalgate.config import ProviderConfig
from evalgate.contracts.cases import Case
from evalgate.errors import InputError
from evalgate.providers import create_provider
from evalgate.providers.python_fn import PythonProvider
from evalgate.runner import run_cases

FIXTURES = Path(__file__).parent.parent / "fixtures"
TARGETS = FIXTURES / "targets"


def provider_for(target: str, base_dir: Path = TARGETS, **options: Any) -> PythonProvider:
    config = ProviderConfig(
        type="python",
        name="default",
        options={"target": target, "kwargs": None, "threads": None, **options},
        file="suite/evalgate.yaml",
        line=3,
    )
    provider = create_provider(config, base_dir)
    assert isinstance(provider, PythonProvider)
    return provider


def run(provider: PythonProvider, inputs: list[Any], *, concurrency: int = 4, timeout: float = 10.0):
    cases = [Case(id=f"c-{i}", input=value, category="edge") for i, value in enumerate(inputs)]

    async def go():
        await provider.start(concurrency)
        try:
            return await run_cases(cases, provider, concurrency=concurrency, timeout=timeout)
        finally:
            await provider.close()

    return asyncio.run(go())


def values(outcome) -> list[Any]:
    return [r.output.value if r.ok else r.error for r in outcome.results]


def test_sync_function_from_a_path():
    outcome = run(provider_for("model_fns.py:classify"), ["I want a refund", "hi"])
    assert values(outcome) == ["billing", "other"]


def test_async_function_and_output_mapping():
    outcome = run(provider_for("model_fns.py:classify_async"), ["refund now please"])
    result = outcome.results[0]
    assert result.output.value == {"label": "billing"}
    assert (result.output.tokens_in, result.output.tokens_out) == (3, 1)


@pytest.mark.parametrize(
    ("target", "expected"),
    [("model_fns.py:with_case", "c-0:edge:x"), ("model_fns.py:with_case_async", ["x", "c-0"])],
)
def test_a_second_positional_parameter_receives_the_case(target, expected):
    outcome = run(provider_for(target), ["x"])
    assert values(outcome) == [expected]


def test_an_optional_second_parameter_is_not_given_the_case():
    assert values(run(provider_for("model_fns.py:with_option"), ["x"])) == [0.5]


def test_kwargs_are_passed_on_every_call():
    provider = provider_for("model_fns.py:with_kwargs", kwargs={"prefix": ">"})
    assert values(run(provider, ["a", "b"])) == [">a!", ">b!"]


def test_a_method_of_a_module_object():
    assert values(run(provider_for("model_fns.py:model.predict"), ["abc"])) == ["cba"]


def test_module_target_imported_with_the_config_folder_on_sys_path(tmp_path):
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "scorer.py").write_text("def predict(x):\n    return x * 2\n")
    assert values(run(provider_for("mypkg.scorer:predict", base_dir=tmp_path), [21])) == [42]


def test_a_path_target_imports_the_project_packages_from_the_config_folder(tmp_path):
    package = tmp_path / "eg_models_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "images.py").write_text("def parse(text):\n    return text.split(',')\n")
    (package / "classifier.py").write_text(
        "from eg_models_pkg.images import parse\n\ndef predict(text):\n    return len(parse(text))\n"
    )
    provider = provider_for("eg_models_pkg/classifier.py:predict", base_dir=tmp_path)
    assert values(run(provider, ["1,2,3"])) == [3]


def test_exceptions_from_the_target_are_case_errors():
    outcome = run(provider_for("model_fns.py:fails"), ["abc"])
    assert values(outcome) == ["ValueError: cannot classify 'abc'"]


@pytest.mark.slow
def test_sync_calls_run_in_a_pool_as_large_as_the_slots():
    provider = provider_for("model_fns.py:slow_sync")
    module = sys.modules[provider.function.__module__]
    module.max_in_flight = 0
    run(provider, [0.3] * 40, concurrency=40)
    assert module.max_in_flight == 40


@pytest.mark.slow
def test_threads_option_caps_the_pool():
    provider = provider_for("model_fns.py:slow_sync", threads=3)
    module = sys.modules[provider.function.__module__]
    module.max_in_flight = 0
    run(provider, [0.05] * 12, concurrency=8)
    assert module.max_in_flight == 3


def test_fingerprint_names_the_type_and_does_not_change_between_instances():
    first = provider_for("model_fns.py:classify").fingerprint()
    assert first.startswith("python:")
    assert first == provider_for("model_fns.py:classify").fingerprint()
    assert first != provider_for("model_fns.py:classify_async").fingerprint()


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("missing.py:predict", "file not found"),
        ("model_fns.py:nope", "has no attribute 'nope'"),
        ("model_fns.py:model.nope", "has no attribute 'nope'"),
        ("model_fns.py:NOT_CALLABLE", "is a int, not a function"),
        ("model_fns.py:no_params", "cannot be called with the case input"),
        ("broken_import.py:predict", "ModuleNotFoundError: No module named 'package_that_does_not_exist'"),
        ("no_such_package_xyz.module:predict", "ModuleNotFoundError"),
    ],
)
def test_bad_targets_are_input_errors_naming_the_config(target, words):
    with pytest.raises(InputError) as info:
        provider_for(target)
    error = info.value
    assert (error.file, error.line) == ("suite/evalgate.yaml", 3)
    assert repr(target) in error.message
    assert words in error.message
    assert "Traceback" not in str(error)


def test_unknown_kwargs_are_caught_when_the_provider_is_created():
    with pytest.raises(InputError, match="cannot be called with the case input and the given kwargs"):
        provider_for("model_fns.py:classify", kwargs={"temperature": 0})


def test_target_form_is_checked_with_the_options():
    check = PythonProvider.OPTIONS["target"].check
    assert check("models/classifier.py:predict") is None
    assert check("models/classifier.py") is not None
    assert check(":predict") is not None


@pytest.mark.slow
def test_a_hung_sync_call_times_out_and_its_thread_is_replaced():
    provider = provider_for("model_fns.py:stuck", threads=2)
    outcome = run(provider, [30.0, 30.0] + [0.01] * 6, concurrency=2, timeout=0.5)
    assert values(outcome) == ["timeout after 0.5s"] * 2 + ["finally"] * 6


@pytest.mark.slow
def test_a_hung_sync_call_does_not_keep_the_process_from_exiting():
    script = f"""
import asyncio, sys
sys.path.insert(0, {str(Path(__file__).parents[2])!r})
from pathlib import Path
from evalgate.config import ProviderConfig
from evalgate.contracts.cases import Case
from evalgate.providers.python_fn import PythonProvider
from evalgate.runner import run_cases

config = ProviderConfig(type="python", name="d", options={{"target": "model_fns.py:stuck"}}, file="e.yaml")
provider = PythonProvider(config, Path({str(TARGETS)!r}))

async def main():
    await provider.start(1)
    outcome = await run_cases([Case(id="a", input=3600)], provider, concurrency=1, timeout=0.2)
    await provider.close()
    print(outcome.results[0].error)

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "timeout after 0.2s")


def test_a_target_rewritten_within_a_second_at_the_same_size_runs_its_new_code(tmp_path, monkeypatch):
    """A .pyc is trusted by the source's mtime (whole seconds) and size: the target is compiled from its source,
    so an edit that keeps both (a one-character fix, then the run at once) is never scored as the old code."""
    import os
    import sys

    from evalgate.userfunc import load_function

    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as on a user's machine: a .pyc is written
    target = tmp_path / "model.py"
    target.write_text("def predict(x):\n    return 'old'\n")
    stamp = target.stat().st_mtime_ns
    assert load_function("model.py:predict", tmp_path, what="target")("q") == "old"
    for name in [name for name in sys.modules if name.startswith("evalgate_target_")]:
        del sys.modules[name]  # a new process
    target.write_text("def predict(x):\n    return 'new'\n")  # the same size
    os.utime(target, ns=(stamp, stamp))  # and the same mtime
    assert load_function("model.py:predict", tmp_path, what="target")("q") == "new"
