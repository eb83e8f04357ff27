"""A judge for the local Messages API server (AnthropicStub) whose bias and noise the test controls.

Every answer in the tests carries its true quality as a tag: `[q=4]` (a rubric score, every criterion),
`[hallucinated]` (a factual answer with an unsupported claim), `[q=70]` in pairwise answers (0-100). The judge
returns the truth plus `bias`, with probability `noise` moved one point up or down (a flip of the verdict for
factual answers), and in pairwise prompts adds `first_bonus` points to the answer shown first. At temperature 0
(or none) the noise is a fixed function of the prompt, as a deterministic judge's would be; with a temperature
above 0 it is drawn anew on every call (a sampling judge). `returned` keeps what it answered, by answer text.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from typing import Any

from .fake_anthropic import user_text

_SCALE = re.compile(r'"(\w+)": <(-?\d+)-(-?\d+)>')
_ANSWER = re.compile(r"<answer>\n(.*?)\n</answer>", re.S)
_PAIR = re.compile(r"<answer_1>\n(.*?)\n</answer_1>.*?<answer_2>\n(.*?)\n</answer_2>", re.S)
_QUALITY = re.compile(r"\[q=(-?\d+)\]")


class FakeJudge:
    def __init__(self, *, bias: int = 0, noise: float = 0.0, first_bonus: float = 0.0, seed: int = 0) -> None:
        self.bias, self.noise, self.first_bonus, self.seed = bias, noise, first_bonus, seed
        self.returned: dict[str, Any] = {}
        self.calls = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def _draw(self, request: dict[str, Any], prompt: str) -> float:
        """A uniform number: fixed by the prompt at temperature 0, fresh on every call when sampling."""
        if request.get("temperature"):
            with self._lock:
                return self._random.random()
        digest = hashlib.sha256(f"{self.seed}\x00{prompt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def _shift(self, draw: float) -> int:
        if draw >= self.noise:
            return 0
        return 1 if draw < self.noise / 2 else -1

    def __call__(self, request: dict[str, Any]) -> str:
        prompt = user_text(request)
        with self._lock:
            self.calls += 1
        draw = self._draw(request, prompt)
        pair = _PAIR.search(prompt)
        if pair:
            first, second = (int(_QUALITY.search(text).group(1)) for text in pair.groups())
            scores = {
                "answer_1": min(100, max(0, first + self.first_bonus + 10 * self._shift(draw))),
                "answer_2": min(100, max(0, second)),
            }
            return json.dumps({"scores": scores, "reasoning": "compared"})
        answer = _ANSWER.search(prompt).group(1)
        if "factual claims" in prompt:
            hallucinated = ("[hallucinated]" in answer) != (self._shift(draw) != 0)
            with self._lock:
                self.returned[answer] = hallucinated
            claims = [{"claim": "the answer's claim", "supported": not hallucinated}]
            return json.dumps({"claims": claims, "reasoning": "checked"})
        criteria = _SCALE.findall(prompt)
        truth = int(_QUALITY.search(answer).group(1))
        low, high = int(criteria[0][1]), int(criteria[0][2])
        score = min(high, max(low, truth + self.bias + self._shift(draw)))
        with self._lock:
            self.returned[answer] = score
        return json.dumps(
            {"scores": {name: score for name, _, _ in criteria}, "reasoning": f"scored {score}"}
        )
