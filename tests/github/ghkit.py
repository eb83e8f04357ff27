"""Hand-written results, verdicts and zip archives for the GitHub-side tests, and the small real suite the
Action's end-to-end tests run (tests/test_entrypoint.py, tests/test_container.py)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from evalgate.contracts.verdict import VerdictDocument, parse_verdict

TOKEN = "ghs_faketoken"
REPO = "octo/repo"

# The suite: 40 cases, a python provider, and the models `good` (all right), `slip` (one case wrong: a drop past
# the margin that is not significant, so a warning) and `bad` (ten wrong: a failure).
SUITE_CONFIG = """\
suite: digits
datasets: [eval]
provider: {type: python, target: model.py:predict}
gate:
  error_rate: {max: 0.05}
  accuracy: {min: 0.9, max_drop: 0.02}
"""
ACCURACY_LINE = 6  # the accuracy rule's line in SUITE_CONFIG
SUITE_CASES = "".join(
    json.dumps({"id": f"c{i:02d}", "input": f"w{i:02d}", "expected": f"W{i:02d}"}) + "\n" for i in range(40)
)
MODELS = {
    "good": "def predict(x):\n    return x.upper()\n",
    "slip": "def predict(x):\n    return x if x == 'w39' else x.upper()\n",
    "bad": "def predict(x):\n    return x if x >= 'w30' else x.upper()\n",
}


def write_suite(folder: Path, model: str = "good") -> Path:
    """The suite in `folder` (made if needed), with the model named (a key of MODELS) as model.py."""
    (folder / "eval").mkdir(parents=True, exist_ok=True)
    (folder / "evalgate.yaml").write_text(SUITE_CONFIG)
    (folder / "eval" / "cases.jsonl").write_text(SUITE_CASES)
    (folder / "model.py").write_text(MODELS[model])
    return folder


def results_doc(suite: str = "digits", accuracy: float = 0.9) -> dict[str, Any]:
    """A minimal results file of the documented shape (docs/internals.md)."""
    return {
        "schema_version": 1,
        "suite": suite,
        "created_at": "2026-11-20T10:00:00Z",
        "signature": {
            "config": "sha256:aa",
            "datasets": "sha256:bb",
            "provider": "python:x",
            "metrics": "sha256:cc",
        },
        "git": {"sha": "a" * 40, "ref": "main"},
        "metrics": {"accuracy": {"value": accuracy, "n": 100}, "error_rate": {"value": 0.0, "n": 100}},
        "categories": {},
        "cases": [],
    }


def verdict_doc(verdict: str = "fail", suite: str = "digits", accuracy: float = 0.87) -> VerdictDocument:
    """A verdict document (checked as the Action reads verdict.json), one breached rule when not passing."""
    reasons = []
    if verdict != "pass":
        reasons.append(
            {
                "metric": "accuracy",
                "category": None,
                "rule": "max_drop",
                "threshold": 0.02,
                "value": accuracy,
                "baseline": 0.91,
                "delta": accuracy - 0.91,
                "severity": verdict,
                "message": "accuracy dropped 4.0 points: 100% sure, 50,1 %",
            }
        )
    overall = {"category": None, "kind": "binary", "higher_is_better": True}
    return parse_verdict(
        {
            "schema_version": 1,
            "suite": suite,
            "verdict": verdict,
            "exit_code": 1 if verdict == "fail" else 0,
            "headline": f"accuracy {accuracy:.2f} ({verdict})",
            "mode": "significance",
            "baseline": {"available": True, "label": "main@abc123"},
            "reasons": reasons,
            "metrics": [
                {
                    **overall,
                    "metric": "accuracy",
                    "current": accuracy,
                    "baseline": 0.91,
                    "delta": accuracy - 0.91,
                },
                {
                    **overall,
                    "metric": "error_rate",
                    "higher_is_better": False,
                    "current": 0.01,
                    "baseline": 0.0,
                    "delta": 0.01,
                },
                {
                    **overall,
                    "metric": "accuracy",
                    "category": "edge",
                    "current": 0.5,
                    "baseline": 0.6,
                    "delta": -0.1,
                },
            ],
            "categories": [],
            "cases": {"added": [], "removed": [], "paired": 100, "regressed": [], "failing": [], "flaky": []},
            "warnings": [],
        },
        file="verdict.json",
    )


def make_zip(files: dict[str, bytes | str], links: dict[str, str] | None = None) -> bytes:
    """A zip archive of the given members (names taken as written, even unsafe ones), and symlink members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            bundle.writestr(info, target)
    return buffer.getvalue()


def results_zip(suite: str = "digits", accuracy: float = 0.9) -> bytes:
    return make_zip({"results.json": json.dumps(results_doc(suite, accuracy))})
