"""evalgate.yamlio reads YAML with libyaml when PyYAML has it: the values, their lines and the refusals are those
of PyYAML's own parser, and a document nested too deep is refused before libyaml's recursive composer sees it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalgate import yamlio
from evalgate.errors import InputError
from evalgate.files.limits import MAX_NESTING

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY_YAML = sorted(
    ROOT / name
    for name in subprocess.run(
        ["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
)
HOSTILE = {
    "anchors and merge keys": "base: &b {a: 1, b: [x, y]}\nother:\n  <<: *b\n  c: 3\nlist: [*b, *b]\n",
    "scalars of every kind": "i: 0x1F\nf: 1.5e3\nn: ~\nt: yes\nd: 2024-01-02\ns: 'q'\nm: |\n  two\n  lines\n",
    "a duplicate key": "a: 1\nb: 2\na: 3\n",
    "a key that is a list": "? [1, 2]\n: v\n",
    "a huge integer": "n: " + "9" * 5000 + "\n",
    "a float beyond range": "x: 1.0e+400\n",
    "bad indentation": "a:\n  b: 1\n c: 2\n",
    "an unclosed flow": "a: [1, 2\nb: 3\n",
    "a tab": "a:\n\tb: 1\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "exactly as deep as allowed": "[" * (MAX_NESTING - 1) + "1" + "]" * (MAX_NESTING - 1),
    "one level deeper": "[" * MAX_NESTING + "1" + "]" * MAX_NESTING,
    "deep mappings": "".join("  " * i + f"k{i}:\n" for i in range(MAX_NESTING + 2)) + "  " * (MAX_NESTING + 2) + "v\n",
}  # fmt: skip


def with_lines(value: Any) -> Any:
    """A loaded value with the lines yamlio records, for comparison."""
    if isinstance(value, yamlio.LineDict):
        return ("map", value.line, dict(value.key_lines), {k: with_lines(v) for k, v in value.items()})
    if isinstance(value, yamlio.LineList):
        return ("seq", value.line, list(value.item_lines), [with_lines(v) for v in value])
    return (type(value).__name__, value)


def loaded(path: Path) -> Any:
    """What load_yaml gives (its value with lines), or the InputError's line and message."""
    try:
        return with_lines(yamlio.load_yaml(path))
    except InputError as exc:
        return ("error", exc.line, exc.message.split(":")[0])


@pytest.fixture
def python_parser(monkeypatch: pytest.MonkeyPatch):
    """load_yaml with PyYAML's own parser, as on a machine without libyaml."""

    def use() -> None:
        monkeypatch.setattr(yamlio, "_LIBYAML", False)
        monkeypatch.setattr(yamlio, "_LOADERS", [yamlio._Loader])

    return use


requires_libyaml = pytest.mark.skipif(not yamlio._LIBYAML, reason="PyYAML without libyaml: one parser only")


@requires_libyaml
@pytest.mark.parametrize("path", REPOSITORY_YAML, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_yaml_file_of_the_repository_reads_the_same_with_libyaml(path, python_parser) -> None:
    assert issubclass(yamlio._LOADERS[-1], yaml.CSafeLoader)  # the fast path is libyaml's
    fast = loaded(path)
    python_parser()
    assert fast == loaded(path)


@requires_libyaml
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_yaml_reads_or_is_refused_the_same_with_libyaml(name, tmp_path, python_parser) -> None:
    path = tmp_path / "evalgate.yaml"
    path.write_text(HOSTILE[name])
    fast = loaded(path)
    python_parser()
    slow = loaded(path)
    if fast[0] == "error" and slow[0] == "error" and fast[2] == slow[2] == "invalid YAML":
        return  # a syntax error: libyaml words it differently, and may see it on another line
    assert fast == slow


def test_a_document_nested_200000_levels_deep_is_refused_not_a_crash(tmp_path) -> None:
    """libyaml composes recursively in C: without the check of its events first, this ends the process
    (SIGSEGV), which no except clause catches."""
    path = tmp_path / "evalgate.yaml"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(InputError, match=f"evalgate.yaml:1: nested more than {MAX_NESTING} levels deep"):
        yamlio.load_yaml(path)
