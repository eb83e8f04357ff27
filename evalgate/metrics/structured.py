"""Structured outputs: json_valid (the output is JSON) and json_schema (it validates against a JSON Schema).

An output that is already a mapping or list (a structured output) is JSON; a string must parse with
`json.loads`; an answer mapping's `text` is parsed. None (no output) is not valid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from evalgate.errors import InputError
from evalgate.facts import KeyFacts
from evalgate.files.fileio import real_path
from evalgate.files.jsonio import load_json
from evalgate.files.limits import MAX_TEXT_FILE_BYTES
from evalgate.metrics.base import CaseMetric, CaseRecord
from evalgate.metrics.matching import NAME
from evalgate.metrics.values import is_answer_mapping
from evalgate.options import Option
from evalgate.yamlio import load_yaml

_INVALID = object()
INVALID_JSON = _INVALID  # what parse_json returns for an output that is not JSON (evalgate.assertions)


def parse_json(output: Any) -> Any:
    """The JSON value of an output, or `_INVALID`."""
    if is_answer_mapping(output) and "text" in output:
        output = output["text"]
    if output is None:
        return _INVALID
    if not isinstance(output, str):
        return output
    try:
        return json.loads(output)
    except (ValueError, RecursionError):  # nested deeper than Python parses: not JSON evalgate can use
        return _INVALID


class JsonValid(CaseMetric):
    family = "json_valid"
    FACTS = (KeyFacts("json_valid", "rate"),)
    DESCRIPTION = "1 when the output is valid JSON (or already a structured value), else 0"
    OPTIONS: ClassVar[dict[str, Option]] = {"name": NAME}

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        return {self.instance: float(parse_json(record.get("output")) is not _INVALID)}


class JsonSchema(CaseMetric):
    family = "json_schema"
    FACTS = (KeyFacts("json_schema", "rate"),)
    OPTIONS: ClassVar[dict[str, Option]] = {
        "name": NAME,
        "schema": Option(
            (str,), required=True, help="a JSON Schema file (.json or .yaml), relative to the config"
        ),
    }

    def __init__(self, options: dict[str, Any], base_dir: Path) -> None:
        import jsonschema  # here: the registry reads FACTS without loading it

        super().__init__(options, base_dir)
        path = real_path(base_dir / options["schema"])
        schema = _read_schema(path)
        validator_class = jsonschema.validators.validator_for(schema)
        try:
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise InputError(
                f"json_schema.schema {str(path)!r} is not a valid JSON Schema ({exc.message})"
            ) from None
        self.validator = validator_class(schema)

    def description(self) -> str:
        return f"1 when the output is JSON that validates against {self.options['schema']}, else 0"

    def score_ok(self, record: CaseRecord) -> dict[str, float]:
        value = parse_json(record.get("output"))
        try:
            valid = value is not _INVALID and self.validator.is_valid(value)
        except RecursionError:  # an answer nested too deep to check is not a valid one
            valid = False
        return {self.instance: float(valid)}


def _read_schema(path: Path) -> Any:
    if path.suffix == ".json":
        schema = load_json(path, what="JSON Schema file", max_bytes=MAX_TEXT_FILE_BYTES)
    else:
        schema = load_yaml(path, what="JSON Schema file")
    if not isinstance(schema, dict | bool):
        raise InputError(f"json_schema.schema {str(path)!r} must hold a JSON Schema object")
    return schema
