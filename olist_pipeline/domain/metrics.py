"""Metrics under their true names, per task: regression errors, and a binary label's ranking,
probability and decision metrics."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
)

from olist_pipeline.domain.evaluation import score_breakdown
from olist_pipeline.domain.tasks import BINARY, Scoring


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, names: list[str] | None = None) -> dict[str, float]:
    """MSE, RMSE, MAE and R^2 (or the subset in `names`)."""
    mse = float(mean_squared_error(y_true, y_pred))
    values = {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
    }
    return {k: values[k] for k in (names or values) if k in values}


def recall_at_top_k(y_true: np.ndarray, probability: np.ndarray, share: float) -> float:
    """Of the positives, the share found among the `share` of rows with the highest probability: what a
    team that can contact only that many customers would reach."""
    y_true = np.asarray(y_true)
    k = max(1, int(round(share * len(y_true))))
    top = np.argsort(-np.asarray(probability), kind="stable")[:k]
    return float(y_true[top].sum() / max(1, y_true.sum()))


def binary_metrics(
    y_true: np.ndarray, probability: np.ndarray, names: list[str] | None = None, threshold: float = 0.5, top_k_share: float = 0.1
) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), log loss, Brier score, precision / recall / F1 / accuracy of the
    label at `threshold`, recall at the top `top_k_share` of rows (or the subset in `names`).

    Raises:
        ValueError: the rows hold one class only (ranking metrics are undefined).
    """
    y_true = np.asarray(y_true).astype(int)
    probability = np.clip(np.asarray(probability, dtype=float), 0.0, 1.0)
    if len(np.unique(y_true)) < 2:
        raise ValueError(f"the {len(y_true)} scored rows hold one class only: ranking metrics are undefined")
    label = (probability >= threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, label, average="binary", zero_division=0.0)
    values = {
        "roc_auc": float(roc_auc_score(y_true, probability)),
        "pr_auc": float(average_precision_score(y_true, probability)),
        "log_loss": float(log_loss(y_true, probability, labels=[0, 1])),
        "brier": float(brier_score_loss(y_true, probability)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "accuracy": float((label == y_true).mean()),
        "recall_at_top_k": recall_at_top_k(y_true, probability, top_k_share),
    }
    selected = {k: values[k] for k in (names or values) if k in values}
    selected["positive_share"] = float(y_true.mean())
    return selected


def model_scores(y_true: np.ndarray, y_score: np.ndarray, names: list[str] | None, scoring: Scoring) -> dict[str, float]:
    """Every number a model is judged on, for its task: `y_score` is the prediction (regression, plus
    `score_breakdown`) or the positive class's probability (binary).

    The candidate's evaluation and the champion's re-scoring both use it, so the gate compares like with like.
    """
    if scoring.kind == BINARY:
        return binary_metrics(y_true, y_score, names, scoring.decision_threshold, scoring.top_k_share)
    scores = regression_metrics(y_true, y_score, names)
    scores.update(score_breakdown(y_true, y_score, scoring.low_score_max))
    return scores
