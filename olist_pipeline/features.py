"""Features: named, documented functions of raw merged-table columns, and the sklearn preprocessing.

Derivation runs inside the model (`OrderFeatures` is the first stage of every trained pipeline), so a
saved model predicts from raw merged-table rows. Order-level features (items, sellers, payments per
order) group rows by `order_id` within the frame being scored: send all rows of an order together.
Nothing here may read a review column: `tests/test_features.py` fails if a feature depends on one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from olist_pipeline.errors import DataError

GROUP_KEY = "order_id"
_SECONDS_PER_DAY = 86400.0


def _ts(df: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_datetime(df[column], errors="coerce", format="ISO8601")


def _days_between(df: pd.DataFrame, start: str, end: str) -> pd.Series:
    return (_ts(df, end) - _ts(df, start)).dt.total_seconds() / _SECONDS_PER_DAY


def _per_order(df: pd.DataFrame, column: str) -> pd.Series:
    if df[GROUP_KEY].is_unique:
        # One row per order (a one-row request, typically): the same counts without a groupby, which
        # is most of a small request's feature time. `nunique` counts no missing value, so 0 there.
        return df[column].notna().astype(float)
    return df.groupby(GROUP_KEY, sort=False)[column].transform("nunique").astype(float)


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from raw columns known before the review is written."""

    inputs: tuple[str, ...]
    compute: Callable[[pd.DataFrame], pd.Series]
    description: str


DERIVED: dict[str, DerivedFeature] = {
    "delivery_days": DerivedFeature(
        ("order_purchase_timestamp", "order_delivered_customer_date"),
        lambda df: _days_between(df, "order_purchase_timestamp", "order_delivered_customer_date"),
        "days from purchase to delivery (missing if not delivered)",
    ),
    "estimated_delivery_days": DerivedFeature(
        ("order_purchase_timestamp", "order_estimated_delivery_date"),
        lambda df: _days_between(df, "order_purchase_timestamp", "order_estimated_delivery_date"),
        "days from purchase to the promised delivery date",
    ),
    "delivery_delay_days": DerivedFeature(
        ("order_estimated_delivery_date", "order_delivered_customer_date"),
        lambda df: _days_between(df, "order_estimated_delivery_date", "order_delivered_customer_date"),
        "days delivered after the estimate (negative: early)",
    ),
    "is_late": DerivedFeature(
        ("order_estimated_delivery_date", "order_delivered_customer_date"),
        lambda df: (
            _days_between(df, "order_estimated_delivery_date", "order_delivered_customer_date") > 0
        ).astype(float),
        "1 if delivered after the estimated date",
    ),
    "is_undelivered": DerivedFeature(
        ("order_delivered_customer_date",),
        lambda df: df["order_delivered_customer_date"].isna().astype(float),
        "1 if the order has no delivery date",
    ),
    "approval_lag_hours": DerivedFeature(
        ("order_purchase_timestamp", "order_approved_at"),
        lambda df: _days_between(df, "order_purchase_timestamp", "order_approved_at") * 24,
        "hours from purchase to payment approval",
    ),
    "carrier_lag_days": DerivedFeature(
        ("order_approved_at", "order_delivered_carrier_date"),
        lambda df: _days_between(df, "order_approved_at", "order_delivered_carrier_date"),
        "days from approval to hand-over to the carrier",
    ),
    "items_per_order": DerivedFeature(
        (GROUP_KEY, "order_item_id"),
        lambda df: _per_order(df, "order_item_id"),
        "distinct items in the order",
    ),
    "sellers_per_order": DerivedFeature(
        (GROUP_KEY, "seller_id"),
        lambda df: _per_order(df, "seller_id"),
        "distinct sellers in the order",
    ),
    "payments_per_order": DerivedFeature(
        (GROUP_KEY, "payment_sequential"),
        lambda df: _per_order(df, "payment_sequential"),
        "distinct payments in the order",
    ),
    "seller_in_customer_state": DerivedFeature(
        ("customer_state", "seller_state"),
        lambda df: (df["customer_state"] == df["seller_state"]).astype(float).where(df["seller_state"].notna()),
        "1 if the seller ships from the customer's state (needs seller_state: olist_kaggle data)",
    ),
    "purchase_weekday": DerivedFeature(
        ("order_purchase_timestamp",),
        lambda df: _ts(df, "order_purchase_timestamp").dt.dayofweek.astype(float),
        "day of the week of the purchase (0 = Monday)",
    ),
    "freight_ratio": DerivedFeature(
        ("price", "freight_value"),
        lambda df: df["freight_value"] / (df["price"] + df["freight_value"]).replace(0, np.nan),
        "freight as a share of item price plus freight",
    ),
}


def input_columns(numeric: list[str], derived: list[str], categorical: list[str]) -> list[str]:
    """The raw columns a feature set reads, in a stable order (always including the order key)."""
    needed = [GROUP_KEY, *numeric, *categorical]
    for name in derived:
        needed.extend(DERIVED[name].inputs)
    return list(dict.fromkeys(needed))


def select_inputs(df: pd.DataFrame, columns: list[str], feature_set: str) -> pd.DataFrame:
    """The model-input table: `columns` of `df`, or a DataError naming what the data lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"feature set {feature_set!r} needs column(s) {missing} that the data lacks "
            "(seller_* and product_category_name_english come with dataset=olist_kaggle)"
        )
    return df[columns]


class OrderFeatures(TransformerMixin, BaseEstimator):
    """Stateless: raw merged-table rows -> the feature set's columns (numeric, derived, categorical)."""

    def __init__(self, numeric: list[str] | None = None, derived: list[str] | None = None, categorical: list[str] | None = None):
        self.numeric = numeric
        self.derived = derived
        self.categorical = categorical

    def fit(self, X: pd.DataFrame, y: object = None) -> OrderFeatures:
        needed = input_columns(self.numeric or [], self.derived or [], self.categorical or [])
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise ValueError(f"input lacks column(s) {missing}")
        # The raw columns this model reads (what a request or a batch must carry); the sklearn Pipeline
        # exposes it as `feature_names_in_`.
        self.feature_names_in_ = np.asarray(needed, dtype=object)
        self.n_features_in_ = len(needed)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = {c: pd.to_numeric(X[c], errors="coerce").astype(float) for c in self.numeric or []}
        for name in self.derived or []:
            out[name] = DERIVED[name].compute(X).astype(float)
        for c in self.categorical or []:
            out[c] = X[c].astype(object).where(X[c].notna(), "missing").astype(str)
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.array([*(self.numeric or []), *(self.derived or []), *(self.categorical or [])], dtype=object)


def build_preprocessor(numeric: list[str], derived: list[str], categorical: list[str], impute: str = "median") -> Pipeline:
    """Feature derivation + imputation (fitted on the training rows only) + scaling / one-hot encoding."""
    numeric_out = [*numeric, *derived]
    transformers = []
    if numeric_out:
        transformers.append(
            ("numeric", Pipeline([("impute", SimpleImputer(strategy=impute)), ("scale", StandardScaler())]), numeric_out)
        )
    if categorical:
        transformers.append(
            ("categorical", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, sparse_output=False), categorical)
        )
    return Pipeline(
        [
            ("features", OrderFeatures(numeric=list(numeric), derived=list(derived), categorical=list(categorical))),
            ("preprocess", ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)),
        ]
    )
