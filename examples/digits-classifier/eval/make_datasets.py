"""Regenerate eval/datasets/v1 from scikit-learn's bundled digits (held-out split only). Deterministic.

python eval/make_datasets.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from models.classifier import add_noise, occlude, training_split  # noqa: E402
from models.images import to_text  # noqa: E402

SIZES = {"typical": 240, "edge": 120, "adversarial": 90}


def main() -> None:
    _, test_x, _, test_y = training_split()
    rng = np.random.default_rng(2026)
    order = rng.permutation(len(test_x))
    start = 0
    variants = {
        "typical": ("typical_cases.jsonl", lambda x: x, "a clean scan"),
        "edge": ("edge_cases.jsonl", lambda x: occlude(x, rng), "two rows of the scan are cut off"),
        "adversarial": ("adversarial.jsonl", lambda x: add_noise(x, rng, 5.0), "a noisy scan"),
    }
    out = HERE / "datasets" / "v1"
    out.mkdir(parents=True, exist_ok=True)
    for category, (file_name, transform, note) in variants.items():
        picked = order[start : start + SIZES[category]]
        start += SIZES[category]
        images = transform(test_x[picked])
        lines = []
        for index, (image, label, source) in enumerate(zip(images, test_y[picked], picked, strict=True)):
            case = {
                "id": f"{category}-{index:03d}",
                "input": {"image": to_text(image)},
                "expected": int(label),
                "metadata": {"source_index": int(source), "note": note},
            }
            lines.append(json.dumps(case))
        (out / file_name).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
