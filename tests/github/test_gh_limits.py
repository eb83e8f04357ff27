"""GitHub's limits (evalgate.github.limits), at and around each: the comment body, the step summary, the
annotations of each type and the outputs. What does not fit is said, never silently lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from ghkit import verdict_doc
from test_gh_actions_io import parse_output_file

from evalgate.github import actions_io as gha
from evalgate.github import comment
from evalgate.github.annotations import ConfigFacts, annotate
from evalgate.github.limits import (
    ANNOTATIONS_PER_TYPE,
    COMMENT_MAX_CHARS,
    OUTPUTS_MAX_BYTES,
    STEP_SUMMARY_MAX_BYTES,
    utf16_size,
)
from evalgate.report.render import comment_marker

MARKER = comment_marker("digits")


def commands(out: str, kind: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"::{kind}")]


# -- the comment ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [-1, 0, 1, 1000])
def test_the_comment_is_cut_only_above_the_limit_and_then_says_so(extra: int) -> None:
    head = MARKER + "\n"
    line = "x" * 99 + "\n"
    body = (line * (COMMENT_MAX_CHARS // 100 + 20))[: COMMENT_MAX_CHARS - len(head) - 1 + extra] + "\n"
    fitted = comment.fit_body(body, MARKER)
    assert len(fitted) <= COMMENT_MAX_CHARS and fitted.startswith(head)
    cut = "65,536-character limit" in fitted
    assert cut == (extra > 0), (extra, len(head + body))


# -- the step summary -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_summary_is_cut_only_above_one_mib_and_then_says_so(tmp_path: Path, extra: int) -> None:
    summary = tmp_path / "summary.md"
    text = "é" * ((STEP_SUMMARY_MAX_BYTES + extra) // 2) + (
        "x" if (STEP_SUMMARY_MAX_BYTES + extra) % 2 else ""
    )
    assert len(text.encode()) == STEP_SUMMARY_MAX_BYTES + extra
    gha.write_summary(summary, text)
    written = summary.read_bytes()
    assert len(written) <= STEP_SUMMARY_MAX_BYTES
    assert written.decode("utf-8").endswith(gha.SUMMARY_CUT_NOTE) == (extra > 0)


# -- annotations ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [ANNOTATIONS_PER_TYPE - 1, ANNOTATIONS_PER_TYPE])
def test_up_to_the_limit_every_annotation_is_shown(capsys, count: int) -> None:
    for i in range(count):
        gha.warning(f"warning {i}", title=f"w{i}")
    gha.step_annotations.flush()
    shown = commands(capsys.readouterr().out, "warning")
    assert [line.rsplit("::", 1)[1] for line in shown] == [f"warning {i}" for i in range(count)]


@pytest.mark.parametrize("count", [ANNOTATIONS_PER_TYPE + 1, 25])
def test_above_the_limit_the_last_annotation_says_how_many_more_and_what(capsys, count: int) -> None:
    for i in range(count):
        gha.warning(f"warning {i}", title=f"evalgate: metric_{i:02d}")
    gha.error("one error")
    gha.step_annotations.flush()
    out = capsys.readouterr().out
    shown = commands(out, "warning")
    more = count - (ANNOTATIONS_PER_TYPE - 1)
    assert len(shown) == ANNOTATIONS_PER_TYPE
    assert f"{more} more warnings not shown as annotations (GitHub shows 10 per step)" in shown[-1]
    assert "evalgate: metric_09" in shown[-1]  # what they are about
    assert len(commands(out, "error")) == 1  # each type has its own limit
    for i in range(ANNOTATIONS_PER_TYPE - 1, count):  # every held one is in the log, in full
        assert f"evalgate: warning: warning {i}" in out


def test_the_gates_reasons_beyond_the_limit_are_named(capsys, tmp_path: Path) -> None:
    verdict = verdict_doc("fail")
    reason = verdict.reasons[0]
    verdict.reasons = [
        reason.model_copy(update={"category": f"c{i:02d}", "message": f"accuracy in c{i:02d} dropped"})
        for i in range(14)
    ]
    facts = ConfigFacts(tmp_path / "evalgate.yaml", "digits")
    assert annotate(verdict.reasons, facts, workspace=tmp_path) == 14
    gha.step_annotations.flush()
    errors = commands(capsys.readouterr().out, "error")
    assert len(errors) == ANNOTATIONS_PER_TYPE
    assert "5 more errors not shown as annotations" in errors[-1] and "accuracy [c13]" in errors[-1]


# -- outputs ----------------------------------------------------------------------------------------------------


def test_outputs_within_the_limit_are_written_whole(tmp_path: Path, capsys) -> None:
    name_size = utf16_size("verdict") + utf16_size("summary")
    value = "x" * ((OUTPUTS_MAX_BYTES - name_size - utf16_size("fail")) // 2)
    outputs = {"verdict": "fail", "summary": value}
    assert sum(utf16_size(k) + utf16_size(v) for k, v in outputs.items()) == OUTPUTS_MAX_BYTES
    gha.write_outputs(tmp_path / "out.txt", outputs)
    assert parse_output_file((tmp_path / "out.txt").read_text()) == outputs
    assert commands(capsys.readouterr().out, "warning") == []


def test_outputs_above_the_limit_lose_the_largest_values_with_a_warning(tmp_path: Path, capsys) -> None:
    outputs = {"verdict": "fail", "summary": "y" * (OUTPUTS_MAX_BYTES // 2), "metrics": "{}", "headline": "h"}
    gha.write_outputs(tmp_path / "out.txt", outputs)
    written = parse_output_file((tmp_path / "out.txt").read_text())
    assert written == {**outputs, "summary": ""}
    (warning,) = commands(capsys.readouterr().out, "warning")
    assert "the output summary is empty" in warning and "1,000,000 bytes" in warning
