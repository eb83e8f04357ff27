"""The import layering of docs/internals.md ("Layers"), read from the source with ast.

Every `import evalgate...` and `from evalgate... import ...` counts, at module level or inside a function (a lazy
import is still a dependency), under TYPE_CHECKING too. Direct imports only: a module may reach an engine module
through an allowed one (the report through `names`), which the rule for that module then governs.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "evalgate"

# storage reads and writes files; it decides nothing about them
STORAGE = (
    "evalgate.files",
    "evalgate.history.store",
    "evalgate.history.schema",
    "evalgate.results",
    "evalgate.contracts",
)
ANALYSIS = (
    "evalgate.pairing",
    "evalgate.paired_metrics",
    "evalgate.case_scores",
    "evalgate.margins",
    "evalgate.case_lists",
    "evalgate.corpus_deltas",
    "evalgate.stats",
    "evalgate.gate",
    "evalgate.history.drift",
    "evalgate.history.ratchet",
    "evalgate.history.stability",
    "evalgate.history.trend",
    "evalgate.pipeline",
    "evalgate.report",
)
# the report shows what it is given: its own package, the typed contracts and the small fact modules
REPORT = ("evalgate.report",)
REPORT_MAY_IMPORT = (
    "evalgate",  # the package itself: __version__
    "evalgate.report",
    "evalgate.contracts",
    "evalgate.errors",
    "evalgate.names",
    # fact modules i9-facts adds: each metric key's declared facts, GitHub's size limits
    "evalgate.facts",
    "evalgate.github.limits",
)
METRICS = ("evalgate.metrics",)
METRICS_MAY_NOT_IMPORT = ("evalgate.report", "evalgate.pairing", "evalgate.gate", "evalgate.pipeline")

# Imports that break a rule today, each in a module another branch of issue 9 is rewriting, with where the
# function belongs. The test fails when one is gone, so this list only shrinks.
KNOWN_BREAKS: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> frozenset[str]:
    return frozenset(_module_name(path) for path in PACKAGE.rglob("*.py"))


def imports_of(path: Path, module: str) -> set[str]:
    """The evalgate modules `path` (the module named `module`) imports: `from evalgate.x import y` counts as
    evalgate.x.y when that is a module, else as evalgate.x; a relative import is resolved first."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if _is_ours(alias.name)}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            source = ".".join(part for part in (base, node.module or "") if part)
            if not _is_ours(source):
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in _modules() else source)
    return found


def _is_ours(name: str) -> bool:
    return name == "evalgate" or name.startswith("evalgate.")


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@cache  # the source does not change during a test session: parsed once for both tests
def import_graph() -> dict[str, set[str]]:
    return {
        _module_name(path): imports_of(path, _module_name(path)) for path in sorted(PACKAGE.rglob("*.py"))
    }


def rule_breaks(graph: dict[str, set[str]]) -> dict[tuple[str, str], str]:
    """Every (importer, imported) pair that breaks a layering rule, with the rule."""
    breaks = {}
    for module, imported in graph.items():
        for target in imported:
            if _within(module, STORAGE) and _within(target, ANALYSIS):
                breaks[module, target] = "storage imports no analysis, no report"
            if _within(module, REPORT) and not (
                target == "evalgate" or _within(target, REPORT_MAY_IMPORT[1:])
            ):
                breaks[module, target] = f"the report imports only {', '.join(REPORT_MAY_IMPORT)}"
            if _within(module, METRICS) and _within(target, METRICS_MAY_NOT_IMPORT):
                breaks[module, target] = "metrics import no report, no pairing, gate or pipeline"
    return breaks


@pytest.mark.slow
def test_the_layers_hold_except_the_known_breaks():
    breaks = rule_breaks(import_graph())
    new = {pair: rule for pair, rule in breaks.items() if pair not in KNOWN_BREAKS}
    assert not new, "\n".join(f"{a} imports {b}: {rule}" for (a, b), rule in sorted(new.items()))


def test_every_known_break_still_exists():
    """A fixed break leaves the list (so KNOWN_BREAKS documents only what remains)."""
    breaks = rule_breaks(import_graph())
    fixed = [pair for pair in KNOWN_BREAKS if pair not in breaks]
    assert not fixed, f"no longer broken, remove from KNOWN_BREAKS: {fixed}"


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        ("evalgate.results", "from evalgate.pairing import compare\n", "storage"),
        ("evalgate.files.fileio", "def f():\n    import evalgate.gate\n", "storage"),
        ("evalgate.contracts.cases", "from evalgate import stats\n", "storage"),
        ("evalgate.report.text", "from evalgate.runner import run_cases\n", "report"),
        ("evalgate.report.render", "from evalgate.metrics import build_metrics\n", "report"),
        ("evalgate.metrics.rouge", "from evalgate.report.formatting import unit_of\n", "metrics"),
        ("evalgate.report.text", "from .. import runner\n", "report"),
        ("evalgate.history.store", "from . import drift\n", "storage"),
    ],
)
def test_each_rule_catches_a_break(tmp_path, module, source, rule):
    """The check is not vacuous: a planted import of each forbidden kind is reported."""
    path = tmp_path / "planted.py"
    path.write_text(source, encoding="utf-8")
    breaks = rule_breaks({module: imports_of(path, module)})
    assert breaks, f"{source!r} in {module} was not caught"
    assert all(rule in why for why in breaks.values())


def test_allowed_imports_are_not_breaks(tmp_path):
    path = tmp_path / "planted.py"
    path.write_text(
        "from evalgate import __version__\nfrom evalgate.facts import UNITS\n"
        "from evalgate.contracts.cases import Case\nfrom evalgate.report import text\n",
        encoding="utf-8",
    )
    assert rule_breaks({"evalgate.report.render": imports_of(path, "evalgate.report.render")}) == {}
