"""The config's schema: every section's options, with their types, checks, defaults and help (one place for
each default), and the threshold rules' names. `evalgate.config` reads a suite config against it."""

from __future__ import annotations

from evalgate.files.limits import MAX_CONCURRENCY, MAX_REPEATS, MAX_RESAMPLES, MIN_RESAMPLES
from evalgate.options import (
    Option,
    between_0_and_1,
    in_range,
    names_list,
    non_negative,
    one_of,
    positive,
    seconds,
    up_to,
)

RULE_KEYS = ("min", "max", "max_drop", "max_drop_pct")
DROP_RULES = ("max_drop", "max_drop_pct")  # the rules judged against the baseline
MAX_ALPHA = 0.5  # a one-sided level above one half would call "no evidence of a drop" significant

RULE_OPTIONS = {
    "min": Option((float,), help="the lowest value allowed"),
    "max": Option((float,), help="the highest value allowed"),
    "max_drop": Option(
        (float,), check=non_negative, help="the largest change for the worse against the baseline"
    ),
    "max_drop_pct": Option(
        (float,), check=non_negative, help="the largest change for the worse, in percent of the baseline"
    ),
}

STATS_OPTIONS = {
    "mode": Option(
        (str,),
        default="significance",
        check=one_of("significance", "threshold"),
        help="significance: fail only on a significant drop beyond max_drop; threshold: plain comparison",
    ),
    "alpha": Option(
        (float,), default=0.05, check=in_range(0, MAX_ALPHA, low_open=True), help="the one-sided level"
    ),
    "confidence": Option((float,), default=0.95, check=between_0_and_1),
    "resamples": Option(
        (int,), default=10000, check=in_range(MIN_RESAMPLES, MAX_RESAMPLES), help="bootstrap resamples"
    ),
    "signature_mismatch": Option(
        (str,),
        default="warn",
        check=one_of("warn", "fail"),
        help="what to do when the baseline's signature differs",
    ),
    "power": Option((float,), default=0.8, check=between_0_and_1),
}

DEFAULT_CACHE_DIR = ".evalgate/cache"  # relative to the config file
CACHE_OPTIONS = {
    "enabled": Option((bool,), default=True),
    "dir": Option((str,), default=DEFAULT_CACHE_DIR, help="a folder, relative to the config file"),
}

BUDGET_OPTIONS = {
    "max_cost": Option((float,), check=positive, help="stop the run when the cost so far exceeds this (USD)"),
    "max_tokens": Option((int,), check=positive, help="stop the run when tokens in + out exceed this"),
}

REPORT_OPTIONS = {
    "max_examples": Option((int,), default=10, check=non_negative, help="regressed or failing cases shown"),
    "max_chars": Option((int,), default=400, check=positive, help="characters shown of each input/output"),
    "templates": Option((str,), help="a folder of Jinja2 templates overriding the built-in ones"),
    "show": Option(
        (list,),
        check=names_list,
        help="the metric keys the tables and the run's summary line show beside the gated ones (default: the "
        "keys the metrics: list names, and those whose facts say shown always or when measured)",
    ),
}

HISTORY_OPTIONS = {
    "path": Option(
        (str,), default=".evalgate/history.sqlite", help="the SQLite store, relative to the config"
    ),
    "branch": Option((str,), default="main", help="runs on this branch are appended to history"),
}

CALIBRATION_OPTIONS = {
    "gold": Option((str,), required=True, help="the gold labels (JSONL), relative to the config"),
    "min_agreement": Option(
        (float,),
        default=0.6,
        check=between_0_and_1,
        help="the judge's lowest quadratic-weighted kappa with people for its metrics to gate",
    ),
    "min_items": Option(
        (int,), default=30, check=positive, help="the fewest labelled items a trusted calibration has"
    ),
    "file": Option(
        (str,), help="the calibration result (default: next to the gold file, <name>.calibration.json)"
    ),
    "canary": Option((str,), help="fixed answers re-judged on each run on main, to catch judge drift"),
    "max_canary_changed": Option(
        (float,),
        default=0.2,
        check=between_0_and_1,
        help="the share of canary verdicts that may differ from the calibration's before history alarms",
    ),
}

TOP_OPTIONS: dict[str, Option] = {
    "suite": Option((str,), required=True, help="the suite's name"),
    "description": Option((str,), default=""),
    "datasets": Option((list, str), required=True, help="JSONL files or folders, relative to this file"),
    "provider": Option((dict,), help="the model under test"),
    "providers": Option((dict,), help="several named providers compared side by side"),
    "concurrency": Option((int,), default=8, check=up_to(MAX_CONCURRENCY), help="cases run at once"),
    "timeout": Option((float,), default=60.0, check=seconds, help="seconds per case"),
    "repeats": Option(
        (int,), default=1, check=up_to(MAX_REPEATS), help="runs of each case (non-deterministic models)"
    ),
    "seed": Option((int,), default=0),
    "metrics": Option((list,), default=None, help="metric names, or mappings of a name to its options"),
    "gate": Option((dict, str), help="thresholds per metric, or a thresholds file"),
    "thresholds": Option((str,), help="a YAML file of thresholds (the same form as gate)"),
    "stats": Option((dict,), help="the gate's statistics"),
    "judge": Option((dict,), help="the model that scores answers (LLM-as-judge)"),
    "task": Option((str,), help="what the model is asked to do, in words: shown to the judge"),
    "cache": Option((dict,)),
    "budget": Option((dict,)),
    "prices": Option((dict,), help="USD per million tokens by model: {model: {input: .., output: ..}}"),
    "report": Option((dict,)),
    "history": Option((dict,)),
    "quarantine": Option((list,), help="case ids excluded from the gate (known flaky)"),
    "slices": Option((list,), help="groups of cases reported and gated like categories: tags, metadata.KEY"),
}

DEFAULT_METRICS = ["accuracy"]
TRANSFORM_OPTION = Option(
    (str,), help="a Jinja2 expression of `output`, or module:function, applied to each answer before scoring"
)
