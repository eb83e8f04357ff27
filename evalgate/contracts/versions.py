"""The version numbers of evalgate's files (here, without pydantic, so the run path can write them)."""

from typing import Final

RESULTS_SCHEMA_VERSION: Final = (
    2  # evalgate/contracts/results.py: the models, and the migration from version 1
)
VERDICT_SCHEMA_VERSION: Final = 1  # evalgate/contracts/verdict.py: what gate.Verdict.to_json() writes
HEADTOHEAD_SCHEMA_VERSION: Final = (
    1  # evalgate/contracts/headtohead.py: what `evalgate compare --json` writes
)
