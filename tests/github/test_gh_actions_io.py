"""The runner protocol: input names, workflow-command escaping, GITHUB_OUTPUT delimiters, the summary limit."""

from __future__ import annotations

import re

import pytest

from evalgate.github import actions_io as gha


def parse_output_file(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT file the way the runner does (name=value, or name<<DELIM ... DELIM)."""
    outputs, lines, i = {}, text.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        heredoc = re.fullmatch(r"([^=<]+)<<(.+)", line)
        if heredoc:
            name, delim = heredoc.groups()
            end = lines.index(delim, i + 1)
            outputs[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, value = line.split("=", 1)
            outputs[name] = value
            i += 1
    return outputs


def test_input_names_are_upper_cased_with_hyphens_kept() -> None:
    env = {"INPUT_FAIL_ON": " warn ", "INPUT_WORKING-DIRECTORY": "sub", "INPUT_MY_INPUT": "x"}
    assert gha.get_input("fail_on", env) == "warn"
    assert gha.get_input("working-directory", env) == "sub"
    assert gha.get_input("my input", env) == "x"
    assert gha.get_input("missing", env, "dflt") == "dflt"
    assert gha.get_input("blank", {"INPUT_BLANK": "  "}, "dflt") == "dflt"


def test_messages_escape_percent_cr_lf_and_properties_also_colon_comma() -> None:
    line = gha.format_command("error", "50% down\r\nnext", file="a,b:c.yaml", line=3, title=None)
    assert line == "::error file=a%2Cb%3Ac.yaml,line=3::50%25 down%0D%0Anext"
    assert gha.format_command("warning", "plain") == "::warning::plain"


def test_add_mask_masks_every_line(capsys: pytest.CaptureFixture[str]) -> None:
    gha.add_mask("line-one\nline-two")
    assert capsys.readouterr().out.splitlines() == ["::add-mask::line-one", "::add-mask::line-two"]


def test_outputs_round_trip_with_a_delimiter_not_in_the_value(tmp_path, monkeypatch) -> None:
    tricky = "first\nghadelimiter_00\nEOF\nlast"
    path = tmp_path / "out"
    gha.write_outputs(path, {"verdict": "fail", "summary": tricky, "empty": ""})
    text = path.read_text()
    assert parse_output_file(text) == {"verdict": "fail", "summary": tricky, "empty": ""}
    delimiter = re.search(r"summary<<(.+)", text).group(1)
    assert delimiter not in tricky and len(delimiter) > 20


def test_a_delimiter_that_occurs_in_the_value_is_drawn_again(monkeypatch) -> None:
    draws = iter(["aa", "bb"])
    monkeypatch.setattr(gha.secrets, "token_hex", lambda n: next(draws))
    entry = gha.format_output("x", "has ghadelimiter_aa inside\nsecond")
    assert entry == "x<<ghadelimiter_bb\nhas ghadelimiter_aa inside\nsecond\nghadelimiter_bb\n"


def test_output_names_with_newlines_are_refused() -> None:
    with pytest.raises(ValueError):
        gha.format_output("a\nb", "v")


def test_the_summary_stays_within_the_limit_on_a_character_boundary(tmp_path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("# earlier\n")
    text = "é" * 1000  # two bytes each
    gha.write_summary(path, text, limit=1200)
    written = path.read_bytes()
    assert len(written) <= 1200
    assert written.decode("utf-8").endswith(gha.SUMMARY_CUT_NOTE)
    small = tmp_path / "small.md"
    gha.write_summary(small, "short")
    assert small.read_text() == "short"
