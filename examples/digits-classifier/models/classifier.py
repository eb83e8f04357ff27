"""The model under test: a support-vector classifier of handwritten digits (scikit-learn's bundled 8x8 digits).

It trains on first use from `models/training.yaml`, on the training split only (the eval cases come from the
held-out split, see eval/make_datasets.py), so the whole suite runs offline in a few seconds.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import yaml
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from models.images import from_text

HERE = Path(__file__).resolve().parent
SPLIT_SEED = 7  # shared with eval/make_datasets.py: the eval cases never overlap the training data
_TRAINING = threading.Lock()


def training_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    pixels, labels = load_digits(return_X_y=True)
    return train_test_split(pixels, labels, test_size=0.4, random_state=SPLIT_SEED, stratify=labels)


def occlude(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blank two adjacent rows of each image: a scan with part of the digit cut off."""
    images = pixels.reshape(-1, 8, 8).copy()
    starts = rng.integers(0, 7, len(images))
    for image, start in zip(images, starts, strict=True):
        image[start : start + 2, :] = 0
    return images.reshape(-1, 64)


def add_noise(pixels: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    return np.clip(np.round(pixels + rng.normal(0, sigma, pixels.shape)), 0, 16)


def model() -> SVC:
    """The trained model. The first cases arrive on several threads at once: one trains, the others wait."""
    with _TRAINING:
        return _train()


@functools.cache
def _train() -> SVC:
    params = yaml.safe_load((HERE / "training.yaml").read_text())
    train_x, _, train_y, _ = training_split()
    rng = np.random.default_rng(params["seed"])
    parts = [train_x]
    augment = params.get("augment", [])
    if "noise" in augment:
        parts.append(add_noise(train_x, rng, params["noise_sigma"]))
    if "occlusion" in augment:
        parts.append(occlude(train_x, rng))
    features = np.vstack(parts)
    labels = np.concatenate([train_y] * len(parts))
    return SVC(C=params["C"], gamma=params["gamma"]).fit(features, labels)


def predict(case_input: dict) -> dict:
    """One scan in, one digit out: {"label": 7}."""
    pixels = from_text(case_input["image"])
    return {"label": int(model().predict(pixels.reshape(1, -1))[0])}
