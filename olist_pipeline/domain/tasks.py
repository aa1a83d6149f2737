"""Tasks: what a model predicts (a number, or yes/no), the metrics that judge it and their direction,
and how a declared dataset's column becomes a binary label.

Light on purpose (pandas only): the config checks metric names with it while composing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from olist_pipeline.errors import DataError

REGRESSION, BINARY = "regression", "binary"

#: metric -> higher is better, per task kind.
METRICS: dict[str, dict[str, bool]] = {
    REGRESSION: {"mse": False, "rmse": False, "mae": False, "r2": True, "low_score_recall": True},
    BINARY: {
        "roc_auc": True,
        "pr_auc": True,
        "log_loss": False,
        "brier": False,
        "precision": True,
        "recall": True,
        "f1": True,
        "accuracy": True,
        "recall_at_top_k": True,
    },
}
#: Every metric a gate or a sweep can name, with its direction.
HIGHER_IS_BETTER: dict[str, bool] = {name: up for metrics in METRICS.values() for name, up in metrics.items()}


def higher_is_better(metric: str) -> bool:
    """The metric's direction (unknown metrics count as lower-is-better, like an error)."""
    return HIGHER_IS_BETTER.get(metric, False)


@dataclass(frozen=True)
class Scoring:
    """How a task's predictions are scored: the kind, and the knobs its metrics take."""

    kind: str = REGRESSION
    low_score_max: int = 2  # regression: targets at or below count as low (low_score_recall)
    decision_threshold: float = 0.5  # binary: probability at or above which the label is 1
    top_k_share: float = 0.1  # binary: recall_at_top_k looks at this share of rows, highest first


def predict_scores(model: Any, rows: pd.DataFrame, kind: str) -> np.ndarray:
    """What the metrics read: the predicted value (regression) or the probability of the positive
    class (binary)."""
    if kind == BINARY:
        return np.asarray(model.predict_proba(rows))[:, 1]
    return np.asarray(model.predict(rows), dtype=float)


@dataclass(frozen=True)
class BinaryLabel:
    """How a column becomes the 0/1 label of a binary task: equal to `positive`, at most `at_most`, at
    least `at_least`, or (none given) the larger of exactly two values."""

    name: str
    column: str
    positive: Any = None
    at_most: float | None = None
    at_least: float | None = None

    def rule(self) -> str:
        if self.positive is not None:
            return f"{self.column} == {self.positive!r}"
        if self.at_most is not None:
            return f"{self.column} <= {self.at_most:g}"
        if self.at_least is not None:
            return f"{self.column} >= {self.at_least:g}"
        return f"{self.column}: the larger of its two values"

    def apply(self, values: pd.Series, source: str = "data") -> pd.Series:
        """The 0/1 label of each row (rows without a value must be dropped before).

        Raises:
            DataError: the column has more than two values and no rule, or the rule leaves a class empty.
        """
        present = values.dropna()
        if self.positive is not None:
            label = values.astype(str) == str(self.positive)
        elif self.at_most is not None or self.at_least is not None:
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.isna().any():
                raise DataError(f"{source}: task binary: {self.column!r} is not numeric, so {self.rule()} cannot apply")
            label = numbers <= self.at_most if self.at_most is not None else numbers >= self.at_least
        else:
            distinct = sorted(present.unique().tolist(), key=str)
            if len(distinct) != 2:
                shown = ", ".join(repr(v) for v in distinct[:6]) + (", ..." if len(distinct) > 6 else "")
                raise DataError(
                    f"{source}: task binary: label column {self.column!r} has {len(distinct)} values ({shown}), "
                    "not two; set task.label.positive, task.label.at_most or task.label.at_least"
                )
            label = values.astype(str) == str(distinct[1])
        positives = int(label.sum())
        if positives == 0 or positives == len(label):
            empty = "positive" if positives == 0 else "negative"
            raise DataError(f"{source}: task binary: {self.rule()} leaves the {empty} class empty ({len(label)} rows)")
        return label.astype(np.int64).rename(self.name)
