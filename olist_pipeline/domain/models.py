"""Estimators from `_target_` + parameters, checked against the task, and the full model: preprocessing +
estimator. A binary task's model predicts a table of the positive class's probability and the label."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier, is_regressor
from sklearn.pipeline import Pipeline

from olist_pipeline.domain.features import GROUP_KEY
from olist_pipeline.domain.tasks import BINARY, REGRESSION


def import_object(path: str) -> Any:
    """Import `package.module.Name` and return `Name`."""
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ValueError(f"{path!r} is not an import path like 'package.module.Name'")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {path!r}: {exc}") from None


def _kind_of(cls: type) -> str | None:
    estimator = cls()
    return REGRESSION if is_regressor(estimator) else BINARY if is_classifier(estimator) else None


def build_estimator(target: str, params: dict[str, Any], kind: str = REGRESSION) -> BaseEstimator:
    """Instantiate and validate a scikit-learn regressor (task regression) or classifier (task binary).

    Unknown parameters, invalid values (scikit-learn's own parameter constraints) and an estimator of
    the other task fail here, before any data is read.
    """
    cls = import_object(target)
    if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
        raise ValueError(f"{target} is not a scikit-learn estimator")
    found = _kind_of(cls)
    if found != kind:
        wanted = "a regressor" if kind == REGRESSION else "a classifier"
        what = {REGRESSION: "a regressor", BINARY: "a classifier"}.get(found or "", "neither regressor nor classifier")
        raise ValueError(f"{target} is {what}; task {kind} needs {wanted}")
    valid = set(cls().get_params(deep=False))
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {cls.__name__}; valid: {sorted(valid)}")
    estimator = cls(**params)
    # scikit-learn checks types and ranges at fit time; do it now so a bad value stops the run early.
    validate = getattr(estimator, "_validate_params", None)
    if callable(validate):
        validate()
    return estimator


class PerOrderRegressor(RegressorMixin, BaseEstimator):
    """`regressor` (an import path) built with `params`, fitted with every order weighing one in total.

    The review is given per order, but the merged table repeats an order for every item x payment,
    so a plain fit lets a 20-row order count 20 times (and fit its own leaf). `build_model` wraps this
    estimator in an `OrderWeightedPipeline`, which passes each row the weight 1 / (rows of its order).
    Predictions are still one per row.
    """

    def __init__(self, regressor: str = "sklearn.ensemble.HistGradientBoostingRegressor", params: dict[str, Any] | None = None):
        self.regressor = regressor
        self.params = params

    weighs_groups = True

    def _validate_params(self) -> None:
        # Called by build_estimator: fail on a bad inner regressor or parameter before any data is read.
        build_estimator(self.regressor, dict(self.params or {}), REGRESSION)

    def fit(self, X: Any, y: Any, sample_weight: np.ndarray | None = None) -> PerOrderRegressor:
        self.regressor_ = build_estimator(self.regressor, dict(self.params or {}), REGRESSION)
        self.regressor_.fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.regressor_.predict(X)


class PerOrderClassifier(ClassifierMixin, BaseEstimator):
    """`PerOrderRegressor`'s counterpart for a binary task: `classifier` built with `params`, fitted with
    every group (order) weighing one in total."""

    weighs_groups = True

    def __init__(self, classifier: str = "sklearn.ensemble.HistGradientBoostingClassifier", params: dict[str, Any] | None = None):
        self.classifier = classifier
        self.params = params

    def _validate_params(self) -> None:
        build_estimator(self.classifier, dict(self.params or {}), BINARY)

    def fit(self, X: Any, y: Any, sample_weight: np.ndarray | None = None) -> PerOrderClassifier:
        self.classifier_ = build_estimator(self.classifier, dict(self.params or {}), BINARY)
        self.classifier_.fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.classifier_.classes_
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.classifier_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.classifier_.predict_proba(X)


def order_weights(order_ids: pd.Series) -> np.ndarray:
    """1 / (rows of the row's order): every order's rows sum to one."""
    return 1.0 / order_ids.groupby(order_ids, sort=False).transform("size").to_numpy(dtype=float)


def _group_weights(pipeline: Pipeline, X: pd.DataFrame, params: dict[str, Any], group_column: str | None) -> None:
    if group_column is not None and getattr(pipeline.steps[-1][1], "weighs_groups", False):
        if group_column not in X.columns:
            raise ValueError(f"the model weighs rows by group but the input lacks the group column {group_column!r}")
        params.setdefault(f"{pipeline.steps[-1][0]}__sample_weight", order_weights(X[group_column]))


class OrderWeightedPipeline(Pipeline):
    """A Pipeline whose fit weighs rows by `order_weights` of the raw group column (`order_id` for
    Olist; the model's first stage still receives raw rows; predict is the Pipeline's own)."""

    def __init__(self, steps: list[Any], *, group_column: str = GROUP_KEY, memory: Any = None, verbose: bool = False):
        super().__init__(steps, memory=memory, verbose=verbose)
        self.group_column = group_column

    def fit(self, X: pd.DataFrame, y: Any = None, **params: Any) -> OrderWeightedPipeline:
        _group_weights(self, X, params, getattr(self, "group_column", GROUP_KEY))
        return super().fit(X, y, **params)


#: What a binary model's `predict` returns: the probability of the positive class, and the label.
PROBABILITY, LABEL = "probability", "label"


class BinaryPipeline(Pipeline):
    """A classification Pipeline whose `predict` gives what a user acts on: a table of the positive
    class's probability and the label (1 when the probability reaches `decision_threshold`), so the
    model server and batch inference return both. `predict_proba` is the Pipeline's own. Rows are
    weighted by group when the estimator asks for it (`PerOrderClassifier`)."""

    def __init__(
        self,
        steps: list[Any],
        *,
        decision_threshold: float = 0.5,
        label_name: str = LABEL,
        group_column: str | None = None,
        memory: Any = None,
        verbose: bool = False,
    ):
        super().__init__(steps, memory=memory, verbose=verbose)
        self.decision_threshold = decision_threshold
        self.label_name = label_name
        self.group_column = group_column

    def fit(self, X: pd.DataFrame, y: Any = None, **params: Any) -> BinaryPipeline:
        _group_weights(self, X, params, self.group_column)
        return super().fit(X, y, **params)

    def predict(self, X: Any, **params: Any) -> pd.DataFrame:  # type: ignore[override]
        probability = self.predict_proba(X, **params)[:, 1]
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(
            {PROBABILITY: probability, LABEL: (probability >= self.decision_threshold).astype(np.int64)}, index=index
        )


def build_model(
    preprocessor: Pipeline,
    estimator: BaseEstimator,
    kind: str = REGRESSION,
    group_column: str | None = GROUP_KEY,
    decision_threshold: float = 0.5,
    label_name: str = LABEL,
) -> Pipeline:
    """The saved model: raw rows of the declared table in; the predicted target (regression) or the
    probability and label (binary) out."""
    steps = [*preprocessor.steps, ("model", estimator)]
    if kind == BINARY:
        return BinaryPipeline(
            steps, decision_threshold=decision_threshold, label_name=label_name, group_column=group_column
        )
    if getattr(estimator, "weighs_groups", False) and group_column is not None:
        return OrderWeightedPipeline(steps, group_column=group_column)
    return Pipeline(steps)
