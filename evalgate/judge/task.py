"""What the judge is told the model was asked to do: the config's `task:` description, else the prompt the model
was sent (the LLM providers with a prompt template keep it in a case's `extra.prompt`). The judge's prompts put it
in a <task> block; it is part of the prompt text, so of the judge's cache key too."""

from __future__ import annotations

from typing import Any

from evalgate.options import Option

TASK_OPTION = Option(
    (bool,),
    default=True,
    help="show the judge the task: the config's task: description, else the prompt the model was sent",
)

# the task block of the judge's prompts (empty when there is no task to show)
TASK_BLOCK = """{% if task %}The task the answer was written for:
<task>
{{ task }}
</task>

{% endif %}"""


# the case as the judge's prompts show it: the question, and the source document or reference answer when given
CASE_BLOCK = """<question>
{{ input }}
</question>
{% if source %}
<source_document>
{{ source }}
</source_document>
{% endif %}
{% if expected %}
<reference_answer>
{{ expected }}
</reference_answer>
{% endif %}
"""


def task_text(record: dict[str, Any], config: Any) -> str:
    """The task of one case record ("" when there is none to show)."""
    described = getattr(config, "task", None)
    if described:
        return str(described)
    prompt = (record.get("extra") or {}).get("prompt")
    return prompt if isinstance(prompt, str) else ""
