"""GitHub's limits on what one step writes, in one place; every writer reads them here.

- A pull-request (issue) comment body: at most 65,536 characters; GitHub refuses a longer one.
- The step summary ($GITHUB_STEP_SUMMARY): at most 1 MiB per step, in bytes; GitHub drops a larger one whole.
- Annotations from workflow commands: GitHub shows 10 errors, 10 warnings and 10 notices per step and drops the
  rest without a word (docs: actions/toolkit, problem matchers, "Limitations").
- Outputs: at most 1 MB per job, GitHub approximating the size in UTF-16; a job over it loses its outputs.

How each writer keeps within them, and says so when it could not keep everything: the report sheds detail by
tiers and the comment is cut at a line with a note (evalgate.report.render, evalgate.github.comment); the step
summary is cut with a note (actions_io.fit_summary); annotations beyond the limit are held, logged in full and
named in the last annotation of their type (actions_io.Annotations); outputs over the limit are left empty,
largest first, with a warning naming them (actions_io.fit_outputs).
"""

from __future__ import annotations

COMMENT_MAX_CHARS = 65_536
STEP_SUMMARY_MAX_BYTES = 1024 * 1024
# The report's own share of the step summary: the Action adds its notes (baseline, comments) after it.
REPORT_SUMMARY_MAX_BYTES = 1_000_000
ANNOTATION_TYPES = ("error", "warning", "notice")
ANNOTATIONS_PER_TYPE = 10
OUTPUTS_MAX_BYTES = 1_000_000


def utf16_size(text: str) -> int:
    """The size GitHub counts an output in: its UTF-16 encoding, in bytes."""
    return len(text.encode("utf-16-le"))
