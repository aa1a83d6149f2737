"""Cross-validation grouped by order, and the metrics it reports per row and per order.

The merged table repeats an order for every item x payment, and the review is given per order, so
folds never split an order (`GroupKFold`, groups shuffled with a seed) and every metric can also be
read per order: one value per order (the mean of its rows' predictions) against the order's target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, r2_score, roc_auc_score
from sklearn.model_selection import GroupKFold

Score = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, float]]


def per_order(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The mean of `values` over the rows of each group, one value per group (in order of first appearance)."""
    codes, _ = pd.factorize(np.asarray(groups))
    return np.bincount(codes, weights=np.asarray(values, dtype=np.float64)) / np.bincount(codes)


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """R² per row and per order (each order's mean prediction against its mean target)."""
    return {
        "r2": float(r2_score(y_true, y_pred)),
        "r2_per_order": float(r2_score(per_order(y_true, groups), per_order(y_pred, groups))),
    }


def classification_scores(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """ROC AUC and PR AUC (average precision) of `scores` (higher: more likely positive) for the binary
    `labels`, per row and per order (an order: its rows' mean score, positive if any of its rows is)."""
    labels = np.asarray(labels, dtype=np.float64)
    order_labels = (per_order(labels, groups) > 0).astype(int)
    order_scores = per_order(scores, groups)
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "roc_auc_per_order": float(roc_auc_score(order_labels, order_scores)),
        "pr_auc_per_order": float(average_precision_score(order_labels, order_scores)),
    }


def grouped_folds(groups: np.ndarray, n_splits: int = 5, seed: int = 42) -> np.ndarray:
    """The fold (0 .. n_splits - 1) of each row: whole groups per fold, groups assigned in a seeded shuffle."""
    groups = np.asarray(groups)
    fold = np.empty(len(groups), dtype=np.int64)
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(groups, groups=groups)):
        fold[test] = k
    return fold


@dataclass
class CVResult:
    """Per-fold metrics, their mean and standard deviation over folds (numpy's, ddof=0), and the
    out-of-fold prediction and fold of every row."""

    folds: list[dict[str, float]]
    mean: dict[str, float]
    std: dict[str, float]
    predictions: np.ndarray
    fold: np.ndarray

    def summary(self, digits: int = 3) -> dict[str, str]:
        """`metric: "mean ± std"`, rounded."""
        return {k: f"{self.mean[k]:.{digits}f} ± {self.std[k]:.{digits}f}" for k in self.mean}


def score_folds(y: np.ndarray, predictions: np.ndarray, groups: np.ndarray, fold: np.ndarray, score: Score) -> CVResult:
    """`score` on each fold's rows of out-of-fold `predictions` (e.g. to read one CV's predictions with
    other metrics), summarised over folds."""
    y, predictions, groups = np.asarray(y), np.asarray(predictions), np.asarray(groups)
    folds = [score(y[fold == k], predictions[fold == k], groups[fold == k]) for k in np.unique(fold)]
    mean = {name: float(np.mean([f[name] for f in folds])) for name in folds[0]}
    std = {name: float(np.std([f[name] for f in folds])) for name in folds[0]}
    return CVResult(folds, mean, std, predictions, fold)


def _rows(X: Any, mask: np.ndarray) -> Any:
    return X.iloc[mask] if isinstance(X, (pd.DataFrame, pd.Series)) else X[mask]


def _predict(model: Any, X: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict(X), dtype=np.float64)


def grouped_cv(
    make_model: Callable[[], Any],
    X: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    n_splits: int = 5,
    seed: int = 42,
    score: Score = regression_scores,
    predict: Callable[[Any, pd.DataFrame], np.ndarray] = _predict,
) -> CVResult:
    """Fit a fresh `make_model()` on every fold's training rows, predict its held-out rows with
    `predict(model, X)` (default: `model.predict`) and score them with `score(y, prediction, groups)`.

    No group is on both sides of a fold. For a classifier, pass e.g.
    `predict=lambda m, X: m.predict_proba(X)[:, 1]` and `score=classification_scores`.
    """
    y, groups = np.asarray(y), np.asarray(groups)
    if not (len(X) == len(y) == len(groups)):
        raise ValueError(f"X, y and groups differ in length: {len(X)}, {len(y)}, {len(groups)}")
    fold = grouped_folds(groups, n_splits, seed)
    predictions = np.full(len(y), np.nan)
    for k in range(n_splits):
        train, test = fold != k, fold == k
        model = make_model().fit(_rows(X, train), y[train])
        predictions[test] = predict(model, _rows(X, test))
    return score_folds(y, predictions, groups, fold, score)
