"""YAML reading that remembers line numbers, so every config error can name its file and line.

Guarded like every read of a user's file (evalgate.files.fileio): a regular file of at most MAX_TEXT_FILE_BYTES, at
most MAX_NESTING levels deep, and at most MAX_YAML_VALUES values once aliases are expanded (an "alias bomb" of
a few lines expands to billions, which would fill the memory of anything that walks it).

The document is parsed and composed by libyaml when PyYAML has it (a load of the example config 0.48 ms, against
2.6 ms with PyYAML's Python parser), after a first pass over libyaml's events that checks the nesting: libyaml
composes recursively in C, and a document nested 200,000 levels deep crashes the process. The nodes, their marks
(the lines) and everything built from them are the same either way (tests/test_yamlio.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from evalgate.errors import InputError
from evalgate.files.fileio import read_text
from evalgate.files.limits import MAX_INTEGER_DIGITS, MAX_NESTING, MAX_TEXT_FILE_BYTES, MAX_YAML_VALUES


class LineDict(dict):
    """A mapping read from YAML: `.line` is where it starts, `.key_lines[key]` where each key stands."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A sequence read from YAML: `.line` is where it starts, `.item_lines[i]` where each item stands."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


def _too_deep(name: str, event: yaml.Event) -> InputError:
    line = event.start_mark.line + 1 if event.start_mark is not None else None
    return InputError(f"nested more than {MAX_NESTING} levels deep", file=name, line=line)


class _Loader(yaml.SafeLoader):
    """PyYAML's own parser (without libyaml): the nesting checked as each node is composed."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise _too_deep(self.name, self.peek_event())
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)
_OPENING = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSING = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _check_nesting(text: str, name: str) -> None:
    """libyaml's events, one at a time (its parser keeps a stack, it does not recurse): an InputError at the first
    node more than MAX_NESTING levels deep, counted as `_Loader.compose_node` counts them."""
    parser = yaml.CSafeLoader(text)  # its parser is libyaml's
    depth = 0
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, _NODE_EVENTS) and depth + 1 > MAX_NESTING:
                raise _too_deep(name, event)
            if isinstance(event, _OPENING):
                depth += 1
            elif isinstance(event, _CLOSING):
                depth -= 1
    finally:
        parser.dispose()


def _expanded_size(root: yaml.Node) -> int:
    """How many values the document holds with every alias expanded, counted without expanding anything: an
    alias is the very node its anchor names, so each node's size is computed once."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = (
            [part for pair in node.value for part in pair]
            if isinstance(node, yaml.MappingNode)
            else node.value
        )
        if children_done:
            sizes[id(node)] = min(1 + sum(sizes[id(child)] for child in children), MAX_YAML_VALUES + 1)
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise InputError(
                "a mapping key must be a plain value", file=loader.name, line=key_node.start_mark.line + 1
            )
        key = str(key) if not isinstance(key, str) else key
        if key in result:
            raise InputError(f"duplicate key {key!r}", file=loader.name, line=key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    if len(node.value.lstrip("+-").replace("_", "")) > MAX_INTEGER_DIGITS:  # int() refuses 4,300+ digits
        raise InputError(
            f"the integer {node.value[:12]}... has more than {MAX_INTEGER_DIGITS} digits",
            file=loader.name,
            line=node.start_mark.line + 1,
        )
    return yaml.SafeLoader.construct_yaml_int(loader, node)


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    value = yaml.SafeLoader.construct_yaml_float(loader, node)
    if math.isinf(value) and ".inf" not in node.value.lower():  # 1.0e+400: an overflow, not a written .inf
        raise InputError(
            f"the number {node.value} is beyond the range of a float (about 1.8e308)",
            file=loader.name,
            line=node.start_mark.line + 1,
        )
    return value


_LIBYAML = bool(getattr(yaml, "__with_libyaml__", False))
_LOADERS: list[Any] = [_Loader]
if _LIBYAML:

    class _CLoader(yaml.CSafeLoader):
        """libyaml's parser and composer, with the constructors below."""

    _LOADERS.append(_CLoader)

for _loader_class in _LOADERS:
    _loader_class.add_constructor("tag:yaml.org,2002:int", _construct_int)
    _loader_class.add_constructor("tag:yaml.org,2002:float", _construct_float)
    _loader_class.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _loader_class.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: str | Path, *, what: str = "file") -> Any:
    """Read a YAML file (safe types only); syntax errors become an InputError with the line."""
    text = read_text(path, what=what, max_bytes=MAX_TEXT_FILE_BYTES)
    loader: Any = None
    try:
        if _LIBYAML:
            _check_nesting(text, str(path))
        loader = _LOADERS[-1](text)
        loader.name = str(path)
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_YAML_VALUES:
            raise InputError(
                f"the YAML holds more than {MAX_YAML_VALUES:,} values once its aliases (*name) are expanded; "
                "an alias that repeats an alias that repeats an alias... (an alias bomb) is refused",
                file=path,
                line=node.start_mark.line + 1,
            )
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=path) from None
    finally:
        if loader is not None:
            loader.dispose()
