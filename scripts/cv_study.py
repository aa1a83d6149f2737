"""5-fold CV grouped by order on the real merged Olist table: how far order structure and seller history
take the review_score regression, and whether `low_review` (score <= 2) needs a classifier of its own.

    nice python scripts/cv_study.py [--data ../shared/data/olist/merged/olist_customers_dataset.csv.gz] [--grid]

Regression: the `hist_gradient_boosting_per_order` model on the `delivery` features (as composed by
Hydra), then with the order-structure features below and `SellerHistory` beside them. Classification:
a HistGradientBoostingClassifier on the same inputs, against ranking rows by the regression's predicted
score (lower score: more likely a low review). R² per row and per order, ROC AUC and PR AUC (average
precision) per row and per order; mean ± std over the 5 folds (the same folds for every variant).

Prints results only: nothing read from or derived from the real data is written (licence).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import FeatureUnion, Pipeline

from olist_pipeline.config.compose import compose_config, compose_spec
from olist_pipeline.domain.cleaning import clean
from olist_pipeline.domain.cv import CVResult, classification_scores, grouped_cv, regression_scores, score_folds
from olist_pipeline.domain.data.io import load_table
from olist_pipeline.domain.features import DerivedFeature, RawColumns, build_preprocessor, input_columns
from olist_pipeline.domain.history import HISTORY_INPUTS, SellerHistory
from olist_pipeline.domain.models import OrderWeightedPipeline, PerOrderClassifier, PerOrderRegressor
from olist_pipeline.paths import PROJECT_ROOT

try:  # the merged table's validation moved from `schema` to `olist` while this script was written
    from olist_pipeline.domain.data.olist import validate_merged
except ImportError:  # pragma: no cover
    from olist_pipeline.domain.data.schema import validate_merged

N_SPLITS, SEED, LOW_REVIEW_MAX = 5, 42, 2

# Candidates for `features.DERIVED`, kept here until they are registered there.
ORDER_DERIVED = {
    "last_mile_days": DerivedFeature(
        ("order_delivered_carrier_date", "order_delivered_customer_date"),
        lambda c: c.days_between("order_delivered_carrier_date", "order_delivered_customer_date"),
        "days from hand-over to the carrier to delivery to the customer",
    ),
    "carrier_vs_shipping_limit_days": DerivedFeature(
        ("shipping_limit_date", "order_delivered_carrier_date"),
        lambda c: c.days_between("shipping_limit_date", "order_delivered_carrier_date"),
        "days the seller handed the item to the carrier after its shipping limit (negative: before)",
    ),
}


class OrderStructure(TransformerMixin, BaseEstimator):
    """`ORDER_DERIVED` and the order's main payment type (that of its largest payment), one-hot over
    the types seen at fit."""

    def fit(self, X: pd.DataFrame, y: object = None) -> OrderStructure:
        self.payment_types_ = np.asarray(sorted(self._main_payment_type(X).dropna().unique()), dtype=object)
        return self

    @staticmethod
    def _main_payment_type(X: pd.DataFrame) -> pd.Series:
        payments = X[["order_id", "payment_sequential", "payment_type", "payment_value"]]
        largest = payments.sort_values(["order_id", "payment_value", "payment_sequential"], ascending=[True, False, True])
        main = largest.drop_duplicates("order_id").set_index("order_id")["payment_type"]
        return X["order_id"].map(main)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        columns = RawColumns(X)
        out = {name: feature.derive(columns) for name, feature in ORDER_DERIVED.items()}
        main = self._main_payment_type(X).to_numpy()
        for payment_type in self.payment_types_:
            out[f"main_payment_type_{payment_type}"] = (main == payment_type).astype(np.float64)
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray([*ORDER_DERIVED, *(f"main_payment_type_{t}" for t in self.payment_types_)], dtype=object)


def inputs(f: Any, order_structure: bool, history: bool) -> Pipeline:
    """The feature stages: the `delivery` preprocessor, and beside it the order-structure and
    seller-history features (left missing where unknown: gradient boosting splits on missing)."""
    parts = [("delivery", build_preprocessor(f.numeric, f.derived, f.categorical))]
    if order_structure:
        parts.append(("order_structure", OrderStructure()))
    if history:
        parts.append(("seller_history", SellerHistory()))
    return Pipeline([("features", FeatureUnion(parts))])


def regressor(f: Any, params: dict[str, Any], order_structure: bool, history: bool) -> Callable[[], Pipeline]:
    def make() -> Pipeline:
        model = PerOrderRegressor("sklearn.ensemble.HistGradientBoostingRegressor", dict(params))
        return OrderWeightedPipeline([*inputs(f, order_structure, history).steps, ("model", model)])

    return make


class LowReviewClassifier(PerOrderClassifier):
    """Fitted on review scores, classifies `low_review` (score <= LOW_REVIEW_MAX): the stages before it
    (SellerHistory) still learn from the scores, not from the 0/1 label."""

    def fit(self, X: Any, y: Any, sample_weight: np.ndarray | None = None) -> LowReviewClassifier:
        return super().fit(X, (np.asarray(y) <= LOW_REVIEW_MAX).astype(int), sample_weight=sample_weight)


def classifier(f: Any, params: dict[str, Any], order_structure: bool, history: bool) -> Callable[[], Pipeline]:
    def make() -> Pipeline:
        model = LowReviewClassifier("sklearn.ensemble.HistGradientBoostingClassifier", dict(params))
        return OrderWeightedPipeline([*inputs(f, order_structure, history).steps, ("model", model)])

    return make


def low_review_scores(y_true: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """`classification_scores` of `scores` for the label review_score <= LOW_REVIEW_MAX."""
    return classification_scores((np.asarray(y_true) <= LOW_REVIEW_MAX).astype(int), scores, groups)


def _hp(params: dict[str, Any]) -> str:
    keys = ["learning_rate", "max_iter", "max_leaf_nodes", "min_samples_leaf", "l2_regularization", "class_weight"]
    short = {"learning_rate": "lr", "max_iter": "it", "max_leaf_nodes": "leaves", "min_samples_leaf": "leaf", "l2_regularization": "l2"}
    return " ".join(f"{short.get(k, k)}={params[k]}" for k in keys if params.get(k) is not None)


def _proba(model: Any, X: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(X)[:, 1]


def _fmt(result: CVResult, names: list[str]) -> str:
    return " | ".join(f"{result.mean[n]:.4f} ± {result.std[n]:.4f}" for n in names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(PROJECT_ROOT.parent / "shared/data/olist/merged/olist_customers_dataset.csv.gz"))
    parser.add_argument("--grid", action="store_true", help="also run the small tuning grid")
    args = parser.parse_args()
    path = Path(args.data)
    if not path.exists():
        print(f"real data not found at {path}: pass --data /path/to/olist_customers_dataset.csv(.gz)", file=sys.stderr)
        return 2

    spec, _, _ = compose_spec(compose_config(["model=hist_gradient_boosting_per_order", "features=delivery"]))
    # The gradient boosting's own parameters (inside PerOrderRegressor's `params`).
    f, base = spec.features, dict(spec.model.params.get("params", spec.model.params))
    df, _ = load_table(path)
    df, _ = validate_merged(df, source=str(path))
    extra = [c for name in ORDER_DERIVED for c in ORDER_DERIVED[name].inputs] + ["payment_sequential", "payment_type", "payment_value"]
    columns = list(dict.fromkeys([*input_columns(f.numeric, f.derived, f.categorical), *extra, *HISTORY_INPUTS]))
    data, _ = clean(df, spec.cleaning.strategy, columns, spec.dataset.target, spec.cleaning.drop_duplicate_rows)
    X, y, groups = data[columns], data[spec.dataset.target].to_numpy(dtype=float), data["order_id"].to_numpy()
    low = y <= LOW_REVIEW_MAX
    print(f"{path.name}: {len(X):,} rows, {len(np.unique(groups)):,} orders, low_review share {low.mean():.3f} per row; "
          f"{N_SPLITS}-fold GroupKFold by order (shuffled, seed {SEED}); mean ± std (ddof 0) over folds")

    tuned = {**base, "min_samples_leaf": 300}  # the one change the grid below kept (larger leaves)
    regression = [
        ("delivery (config)", base, False, False),
        ("+ order structure", base, True, False),
        ("+ seller history", base, False, True),
        ("+ order structure + seller history", base, True, True),
        ("delivery, tuned", tuned, False, False),
        ("+ order structure + seller history, tuned", tuned, True, True),
    ]
    if args.grid:
        for change in [{"min_samples_leaf": 200}, {"min_samples_leaf": 50}, {"learning_rate": 0.03, "max_iter": 300, "min_samples_leaf": 200},
                       {"max_leaf_nodes": 15, "min_samples_leaf": 50}, {"max_leaf_nodes": 5, "max_iter": 250, "min_samples_leaf": 200},
                       {"l2_regularization": 1.0}]:
            regression.append(("+ order structure + seller history, grid", {**base, **change}, True, True))

    print("\n## Regression (review_score)\n\n| features | hyper-parameters | R² per row | R² per order | fit+predict (s) |\n|---|---|---:|---:|---:|")
    results: list[tuple[str, dict[str, Any], CVResult]] = []
    for name, params, order_structure, history in regression:
        start = time.perf_counter()
        result = grouped_cv(regressor(f, params, order_structure, history), X, y, groups, N_SPLITS, SEED, regression_scores)
        results.append((name, params, result))
        print(f"| {name} | {_hp(params)} | {_fmt(result, ['r2', 'r2_per_order'])} | {time.perf_counter() - start:.0f} |", flush=True)

    names = ["roc_auc", "pr_auc", "roc_auc_per_order", "pr_auc_per_order"]
    print("\n## low_review (score <= 2)\n\n| approach | hyper-parameters | ROC AUC per row | PR AUC per row | ROC AUC per order | PR AUC per order |\n|---|---|---:|---:|---:|---:|")
    ranked: dict[str, CVResult] = {}
    for name, params, result in results:
        # The same folds: the regression's out-of-fold predictions, a lower score = more likely low.
        ranked[name] = score_folds(y, -result.predictions, groups, result.fold, low_review_scores)
        print(f"| rank by -regression ({name}) | {_hp(params)} | {_fmt(ranked[name], names)} |", flush=True)
    cls = {"learning_rate": 0.05, "max_iter": 150, "max_leaf_nodes": 7, "min_samples_leaf": 200}
    classifiers = [
        ("classifier", {**cls, "min_samples_leaf": 100}),
        ("classifier", cls),
        ("classifier", {**cls, "class_weight": "balanced"}),
    ]
    if args.grid:
        classifiers += [("classifier", {**cls, **change}) for change in [
            {"min_samples_leaf": 300}, {"learning_rate": 0.03, "max_iter": 200, "min_samples_leaf": 100},
            {"learning_rate": 0.03, "max_iter": 300}, {"max_leaf_nodes": 4, "max_iter": 300},
        ]]
    best = ranked["+ order structure + seller history, tuned"]
    for name, params in classifiers:
        params = {**params, "early_stopping": False, "random_state": SEED}
        result = grouped_cv(classifier(f, params, True, True), X, y, groups, N_SPLITS, SEED, low_review_scores, _proba)
        print(f"| {name} (order structure + seller history) | {_hp(params)} | {_fmt(result, names)} |", flush=True)
        # Paired by fold against ranking by the tuned full regression: is the classifier better in every fold?
        diff = {n: np.array([c[n] - r[n] for c, r in zip(result.folds, best.folds)]) for n in ["roc_auc", "pr_auc"]}
        print("|   minus rank by -regression (full, tuned), per fold | | "
              + " | ".join(f"{d.mean():+.4f} ({(d > 0).sum()}/{len(d)} folds > 0)" for d in diff.values()) + " | | |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
