"""Tabular classification data: scikit-learn's bundled sets or a user's ``(X, y)``.

Imports only numpy and scikit-learn. Features are standardized with the training
split's statistics; labels are re-coded to ``0..n_classes-1``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TabularData", "load_data", "DATASETS"]

#: datasets that ship inside scikit-learn (no download)
DATASETS = ("digits", "wine", "breast_cancer", "iris")


@dataclass(frozen=True, repr=False)
class TabularData:
    """A train/validation split, standardized, as float32 features and int64 labels.

    Example:
        >>> d = load_data("digits")
        >>> (d.n_features, d.n_classes, len(d.y_train) + len(d.y_val))
        (64, 10, 1797)
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def __repr__(self) -> str:  # short: it appears in traces shown to an LLM
        return (
            f"TabularData({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, "
            f"features={self.n_features}, classes={self.n_classes})"
        )


def load_data(
    dataset: str | tuple[Any, Any] = "digits",
    *,
    val_fraction: float = 0.25,
    split_seed: int = 0,
    max_train: int | None = None,
) -> TabularData:
    """Load and split a dataset (stratified), standardized on the training split.

    Args:
        dataset: one of :data:`DATASETS`, or ``(X, y)`` arrays (any label type).
        val_fraction: share of the rows held out for validation.
        split_seed: seed of the split (fixed, so every trial sees the same split).
        max_train: keep at most this many training rows (for quick tests).

    Raises:
        ValueError: an unknown name, or arrays of the wrong shape.
    """
    if isinstance(dataset, str):
        return _load_named(dataset, float(val_fraction), int(split_seed), max_train)
    X, y = dataset
    return _split("custom", np.asarray(X), np.asarray(y), float(val_fraction), int(split_seed), max_train)


@functools.lru_cache(maxsize=16)
def _load_named(name: str, val_fraction: float, split_seed: int, max_train: int | None) -> TabularData:
    from sklearn import datasets

    loaders = {n: getattr(datasets, f"load_{n}") for n in DATASETS}
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)} or pass (X, y) arrays")
    bunch = loaders[name]()
    return _split(name, bunch.data, bunch.target, val_fraction, split_seed, max_train)


def _split(
    name: str, X: np.ndarray, y: np.ndarray, val_fraction: float, split_seed: int, max_train: int | None
) -> TabularData:
    from sklearn.model_selection import train_test_split

    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"expected X of shape (n, features) and y of shape (n,); got {X.shape} and {y.shape}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    try:
        X = X.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"X must hold numbers only (encode text or categories first): {e}") from None
    if not np.isfinite(X).all():
        rows = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise ValueError(f"X holds NaN or infinite values in {len(rows)} row(s) (first: row {rows[0]}); "
                         "impute or drop them first")
    classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise ValueError("y must hold at least two classes")
    if counts.min() < 2:
        rare = [str(c) for c in classes[counts < 2][:5]]
        raise ValueError(f"every class needs at least 2 rows for the stratified validation split; "
                         f"these have 1: {', '.join(rare)}; drop or merge them")
    X_tr, X_va, y_tr, y_va = train_test_split(
        X, codes, test_size=val_fraction, random_state=split_seed, stratify=codes
    )
    if max_train is not None:
        X_tr, y_tr = X_tr[:max_train], y_tr[:max_train]
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    std[std == 0] = 1.0
    return TabularData(
        name=name,
        X_train=((X_tr - mean) / std).astype(np.float32),
        y_train=y_tr.astype(np.int64),
        X_val=((X_va - mean) / std).astype(np.float32),
        y_val=y_va.astype(np.int64),
        n_classes=len(classes),
    )
