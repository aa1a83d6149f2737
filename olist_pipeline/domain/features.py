"""Features: raw columns of any declared table (numeric, categorical, parts of datetimes), named and
documented derived features (the registered ones below are Olist's), and the sklearn preprocessing.

Derivation runs inside the model (`OrderFeatures` is the first stage of every trained pipeline), so a
saved model predicts from raw rows of the declared table. Olist's order-level features (items, sellers,
payments per order) group rows by `order_id` within the frame being scored: send all rows of an order
together. Nothing here may read a review column: `tests/domain/test_transforms.py` fails if a feature
depends on one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from olist_pipeline.domain import history
from olist_pipeline.domain.history import SellerHistory
from olist_pipeline.errors import DataError

GROUP_KEY = "order_id"
_SECONDS_PER_DAY = 86400.0


class RawColumns:
    """The raw columns of one frame as the features read them, each read and converted once.

    Seven features read five timestamp columns, and on a one-row request pandas' fixed cost per call,
    not the data, is the time: each column is parsed once per frame, each difference taken once."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._columns: dict[str, pd.Series] = {}
        self._timestamps: dict[str, pd.Series] = {}
        self._days: dict[tuple[str, str], np.ndarray] = {}

    def __getitem__(self, column: str) -> pd.Series:
        if column not in self._columns:
            self._columns[column] = self.frame[column]
        return self._columns[column]

    def timestamps(self, column: str) -> pd.Series:
        """`column` parsed as ISO 8601 date-times (unparsable or missing: NaT)."""
        if column not in self._timestamps:
            # No cache: pandas 3 does not use it for an ISO format anyway, and setting it up is a
            # quarter of a one-row parse.
            self._timestamps[column] = pd.to_datetime(self[column], errors="coerce", format="ISO8601", cache=False)
        return self._timestamps[column]

    def days_between(self, start: str, end: str) -> np.ndarray:
        """Days from the `start` to the `end` timestamps (NaN where either is missing)."""
        if (start, end) not in self._days:
            # The datetime arrays' own arithmetic, which Series arithmetic dispatches to, without the
            # Series around it: pandas' units, NaT, time zones and overflow errors, at a tenth of the cost.
            last, first = self.timestamps(end).array, self.timestamps(start).array
            self._days[start, end] = (last - first).total_seconds() / _SECONDS_PER_DAY
        return self._days[start, end]

    @cached_property
    def one_row_per_order(self) -> bool:
        return bool(self.frame[GROUP_KEY].is_unique)


def _per_order(df: pd.DataFrame, column: str, one_row_per_order: bool | None = None) -> pd.Series:
    """Distinct non-missing values of `column` in each row's order (`one_row_per_order`: whether
    `df[GROUP_KEY]` is unique, when the caller knows)."""
    if df[GROUP_KEY].is_unique if one_row_per_order is None else one_row_per_order:
        # One row per order (a one-row request, typically): the same counts without a groupby, which
        # is most of a small request's feature time. `nunique` counts no missing value, so 0 there.
        return pd.Series((~pd.isna(df[column].array)).astype(float), index=df.index, name=column)
    return df.groupby(GROUP_KEY, sort=False)[column].transform("nunique").astype(float)


def _distinct_per_order(column: str) -> Callable[[RawColumns], np.ndarray]:
    return lambda c: _per_order(c.frame, column, c.one_row_per_order).to_numpy()


def _freight_ratio(c: RawColumns) -> np.ndarray:
    price, freight = c["price"], c["freight_value"]
    if price.dtype == freight.dtype == np.dtype(np.float64):
        # Plain floats (the schema's dtype): the numpy arithmetic pandas' own dispatches to, without its
        # per-call cost; other dtypes keep pandas' rules. tests/domain/test_features.py checks both agree.
        with np.errstate(all="ignore"):  # as pandas: inf / inf is NaN without a warning
            total = price.to_numpy() + freight.to_numpy()
            return freight.to_numpy() / np.where(total == 0, np.nan, total)
    return (freight / (price + freight).replace(0, np.nan)).astype(float).to_numpy()


def _as_float(column: pd.Series) -> np.ndarray:
    """`pd.to_numeric(column, errors="coerce").astype(float)`, as an array (unparsable: NaN)."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":
        return column.to_numpy(dtype=np.float64)  # already numbers: the same cast, without pandas' calls
    return pd.to_numeric(column, errors="coerce").astype(float).to_numpy()


def _category_labels(column: pd.Series) -> pd.api.extensions.ExtensionArray:
    """The column as strings, "missing" where it has no value."""
    if column.dtype == pd.api.types.pandas_dtype(str):
        return column.fillna("missing").array  # already strings: the same labels, without three conversions
    return column.astype(object).where(column.notna(), "missing").astype(str).array


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from raw columns known before the review is written."""

    inputs: tuple[str, ...]
    derive: Callable[[RawColumns], np.ndarray]  # float64, one value per row
    description: str

    def compute(self, df: pd.DataFrame) -> pd.Series:
        """The feature's value for each row of `df`."""
        return pd.Series(self.derive(RawColumns(df)), index=df.index)


DERIVED: dict[str, DerivedFeature] = {
    "delivery_days": DerivedFeature(
        ("order_purchase_timestamp", "order_delivered_customer_date"),
        lambda c: c.days_between("order_purchase_timestamp", "order_delivered_customer_date"),
        "days from purchase to delivery (missing if not delivered)",
    ),
    "estimated_delivery_days": DerivedFeature(
        ("order_purchase_timestamp", "order_estimated_delivery_date"),
        lambda c: c.days_between("order_purchase_timestamp", "order_estimated_delivery_date"),
        "days from purchase to the promised delivery date",
    ),
    "delivery_delay_days": DerivedFeature(
        ("order_estimated_delivery_date", "order_delivered_customer_date"),
        lambda c: c.days_between("order_estimated_delivery_date", "order_delivered_customer_date"),
        "days delivered after the estimate (negative: early)",
    ),
    "is_late": DerivedFeature(
        ("order_estimated_delivery_date", "order_delivered_customer_date"),
        lambda c: (
            c.days_between("order_estimated_delivery_date", "order_delivered_customer_date") > 0
        ).astype(float),
        "1 if delivered after the estimated date",
    ),
    "is_undelivered": DerivedFeature(
        ("order_delivered_customer_date",),
        lambda c: pd.isna(c["order_delivered_customer_date"].array).astype(float),
        "1 if the order has no delivery date",
    ),
    "approval_lag_hours": DerivedFeature(
        ("order_purchase_timestamp", "order_approved_at"),
        lambda c: c.days_between("order_purchase_timestamp", "order_approved_at") * 24,
        "hours from purchase to payment approval",
    ),
    "carrier_lag_days": DerivedFeature(
        ("order_approved_at", "order_delivered_carrier_date"),
        lambda c: c.days_between("order_approved_at", "order_delivered_carrier_date"),
        "days from approval to hand-over to the carrier",
    ),
    "items_per_order": DerivedFeature(
        (GROUP_KEY, "order_item_id"), _distinct_per_order("order_item_id"), "distinct items in the order"
    ),
    "sellers_per_order": DerivedFeature(
        (GROUP_KEY, "seller_id"), _distinct_per_order("seller_id"), "distinct sellers in the order"
    ),
    "payments_per_order": DerivedFeature(
        (GROUP_KEY, "payment_sequential"), _distinct_per_order("payment_sequential"), "distinct payments in the order"
    ),
    "seller_in_customer_state": DerivedFeature(
        ("customer_state", "seller_state"),
        lambda c: (
            (c["customer_state"] == c["seller_state"]).astype(float).where(c["seller_state"].notna()).to_numpy()
        ),
        "1 if the seller ships from the customer's state (needs seller_state: olist_kaggle data)",
    ),
    "purchase_weekday": DerivedFeature(
        ("order_purchase_timestamp",),
        lambda c: c.timestamps("order_purchase_timestamp").dt.dayofweek.astype(float).to_numpy(),
        "day of the week of the purchase (0 = Monday)",
    ),
    "freight_ratio": DerivedFeature(
        ("price", "freight_value"),
        _freight_ratio,
        "freight as a share of item price plus freight",
    ),
}


#: Parts of a datetime column a feature set can use as numbers (`<column>_<part>`).
DATETIME_PARTS = ("year", "month", "day", "weekday", "hour", "dayofyear")


def _datetime_part(stamps: pd.Series, part: str) -> np.ndarray:
    accessor = stamps.dt
    values = accessor.dayofweek if part == "weekday" else getattr(accessor, part)
    return values.astype(float).to_numpy()


@dataclass(frozen=True)
class FittedFeature:
    """Features learned from the training rows and carried inside the saved model (a transformer with
    `fit(X, y)` / `transform(X)`), computed point in time: a row only sees what is dated before it.

    `fit_inputs` are read only when fitting (they may be columns declared never-features, e.g. when a
    review was answered); `request_inputs` are all a row to score must carry. `score_column`, when set,
    is what the transformer learns from instead of the task's target (the seller's past review scores
    serve a binary task too)."""

    make: Callable[[], BaseEstimator]
    fit_inputs: tuple[str, ...]
    request_inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    description: str
    score_column: str | None = None


#: Registered fitted features, by the name a feature set lists under `fitted:`.
FITTED: dict[str, FittedFeature] = {
    "seller_history": FittedFeature(
        SellerHistory,
        fit_inputs=(*history.HISTORY_INPUTS, "review_score"),
        request_inputs=history.REQUEST_INPUTS,
        outputs=history.FEATURES,
        description="the seller's earlier orders, share delivered late and mean review, as of the purchase",
        score_column="review_score",
    ),
}


def input_columns(
    numeric: list[str],
    derived: list[str],
    categorical: list[str],
    datetime_parts: dict[str, list[str]] | None = None,
    fitted: list[str] | None = None,
) -> list[str]:
    """The raw columns a feature set reads to score a row, in a stable order."""
    needed = [*numeric, *categorical, *(datetime_parts or {})]
    for name in derived:
        needed.extend(DERIVED[name].inputs)
    for name in fitted or []:
        needed.extend(FITTED[name].request_inputs)
    return list(dict.fromkeys(needed))


def fit_columns(fitted: list[str] | None) -> list[str]:
    """The raw columns fitted features read only while training (besides `input_columns`)."""
    return list(dict.fromkeys(c for name in fitted or [] for c in FITTED[name].fit_inputs))


def select_inputs(df: pd.DataFrame, columns: list[str], feature_set: str) -> pd.DataFrame:
    """The model-input table: `columns` of `df`, or a DataError naming what the data lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"feature set {feature_set!r} needs column(s) {missing} that the data lacks "
            "(with Olist data: seller_* and product_category_name_english come with dataset=olist_kaggle)"
        )
    return df[columns]


class OrderFeatures(TransformerMixin, BaseEstimator):
    """Stateless: raw rows of the declared table -> the feature set's columns (numeric, derived,
    datetime parts, categorical)."""

    def __init__(
        self,
        numeric: list[str] | None = None,
        derived: list[str] | None = None,
        categorical: list[str] | None = None,
        datetime_parts: dict[str, list[str]] | None = None,
        fitted: list[str] | None = None,
    ):
        self.numeric = numeric
        self.derived = derived
        self.categorical = categorical
        self.datetime_parts = datetime_parts
        self.fitted = fitted

    def fit(self, X: pd.DataFrame, y: object = None) -> OrderFeatures:
        fitted = self._fitted
        needed = input_columns(self.numeric or [], self.derived or [], self.categorical or [], self._parts, fitted)
        missing = [c for c in [*needed, *fit_columns(fitted)] if c not in X.columns]
        if missing:
            raise ValueError(f"input lacks column(s) {missing}")
        self.fitted_ = {}
        for name in fitted:
            feature = FITTED[name]
            learned_from = X[feature.score_column] if feature.score_column else y
            self.fitted_[name] = feature.make().fit(X[list(feature.fit_inputs)], learned_from)
        # The raw columns this model reads (what a request or a batch must carry); the sklearn Pipeline
        # exposes it as `feature_names_in_`.
        self.feature_names_in_ = np.asarray(needed, dtype=object)
        self.n_features_in_ = len(needed)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        # Columns as arrays, not Series: the frame is built without aligning 20-odd indexes.
        columns = RawColumns(X)
        out = {c: _as_float(columns[c]) for c in self.numeric or []}
        for name in self.derived or []:
            out[name] = DERIVED[name].derive(columns)
        for column, parts in self._parts.items():
            stamps = columns.timestamps(column)
            for part in parts:
                out[f"{column}_{part}"] = _datetime_part(stamps, part)
        for name in self._fitted:
            learned = self.fitted_[name].transform(X[list(FITTED[name].request_inputs)])
            out.update({c: learned[c].to_numpy() for c in FITTED[name].outputs})
        for c in self.categorical or []:
            out[c] = _category_labels(columns[c])
        return pd.DataFrame(out, index=X.index)

    @property
    def _parts(self) -> dict[str, list[str]]:
        # Models saved before datetime parts existed carry no such attribute.
        return dict(getattr(self, "datetime_parts", None) or {})

    @property
    def _fitted(self) -> list[str]:
        return list(getattr(self, "fitted", None) or [])

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        parts = [f"{c}_{p}" for c, ps in self._parts.items() for p in ps]
        learned = [c for name in self._fitted for c in FITTED[name].outputs]
        return np.array(
            [*(self.numeric or []), *(self.derived or []), *parts, *learned, *(self.categorical or [])], dtype=object
        )


def build_preprocessor(
    numeric: list[str],
    derived: list[str],
    categorical: list[str],
    impute: str = "median",
    datetime_parts: dict[str, list[str]] | None = None,
    fitted: list[str] | None = None,
) -> Pipeline:
    """Feature derivation (with fitted, point-in-time features learned from the training rows) +
    imputation (fitted on the training rows only) + scaling / one-hot encoding."""
    parts = {c: list(p) for c, p in (datetime_parts or {}).items()}
    learned = [c for name in fitted or [] for c in FITTED[name].outputs]
    numeric_out = [*numeric, *derived, *(f"{c}_{p}" for c, ps in parts.items() for p in ps)]
    transformers = []
    if numeric_out:
        transformers.append(
            ("numeric", Pipeline([("impute", SimpleImputer(strategy=impute)), ("scale", StandardScaler())]), numeric_out)
        )
    if learned:
        # "No history yet" is information: imputed, and flagged by an indicator column.
        impute_flagged = SimpleImputer(strategy=impute, add_indicator=True, keep_empty_features=True)
        transformers.append(("fitted", Pipeline([("impute", impute_flagged), ("scale", StandardScaler())]), learned))
    if categorical:
        transformers.append(
            ("categorical", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, sparse_output=False), categorical)
        )
    return Pipeline(
        [
            ("features", OrderFeatures(list(numeric), list(derived), list(categorical), parts or None, list(fitted or []) or None)),
            ("preprocess", ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)),
        ]
    )
