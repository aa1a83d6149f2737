"""Seller history as of the purchase: what the seller's earlier orders said before this order was placed.

`SellerHistory` remembers, at fit, one record per (seller, order) of the training rows: when the order
was purchased, delivered (and whether after the estimated date), and when its review was answered with
which score. At transform it needs only `seller_id` and `order_purchase_timestamp`, and counts, for each
row, only events dated strictly before that purchase:

- `seller_prior_orders`: the seller's orders purchased before it;
- `seller_prior_late_share`: of the seller's orders delivered before it, the share delivered late;
- `seller_prior_review_mean`: the mean score of the seller's reviews answered before it.

An order's own delivery and review come after its purchase, so a row's own order never counts. A
delivery or answer dated before its own order's purchase (impossible, so a data error) is ignored, so
no record of an order purchased at or after a row's purchase can reach that row.

Each event kind is kept as one array sorted by (seller, time), with cumulative sums: a row's value is
two `np.searchsorted` calls and a difference, for a batch and for a one-row request alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

SELLER, ORDER, PURCHASE = "seller_id", "order_id", "order_purchase_timestamp"
DELIVERED, ESTIMATED, ANSWERED = "order_delivered_customer_date", "order_estimated_delivery_date", "review_answer_timestamp"

HISTORY_INPUTS = (SELLER, ORDER, PURCHASE, DELIVERED, ESTIMATED, ANSWERED)  # read at fit (with y)
REQUEST_INPUTS = (SELLER, PURCHASE)  # read at transform: all a request must carry
FEATURES = ("seller_prior_orders", "seller_prior_late_share", "seller_prior_review_mean")

_NAT = np.iinfo(np.int64).min  # NaT as int64


def _times(column: pd.Series) -> np.ndarray:
    """ISO 8601 date-times as int64 microseconds since the epoch, in UTC if zoned (missing: `_NAT`)."""
    ts = pd.to_datetime(column, errors="coerce", format="ISO8601")
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    # One unit for fit and transform alike (pandas infers the resolution from the strings).
    return ts.dt.as_unit("us").to_numpy().view(np.int64)


class _Events:
    """Dated events of one kind (with a value each), sorted by (seller, time), for counts and sums of
    a seller's events strictly before a time."""

    def __init__(self, seller: np.ndarray, time: np.ndarray, value: np.ndarray | None):
        # Keys: seller * (n + 1) + rank of the time among all this kind's times (the number of them
        # strictly earlier). A query's rank is the same count, so `event < query` iff its key is
        # smaller: exact at any resolution and date range, without overflow.
        self.times = np.sort(time)
        stride = len(time) + 1
        keys = seller * stride + np.searchsorted(self.times, time, side="left")
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.cumsum = None if value is None else np.concatenate([[0.0], np.cumsum(value[order], dtype=np.float64)])

    def before(self, seller: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """For each (seller code, time): the seller's events strictly before it, and their values' sum."""
        stride = len(self.times) + 1
        start = np.searchsorted(self.keys, seller * stride, side="left")
        stop = np.searchsorted(self.keys, seller * stride + np.searchsorted(self.times, time, side="left"), side="left")
        total = None if self.cumsum is None else self.cumsum[stop] - self.cumsum[start]
        return (stop - start).astype(np.float64), total


def _ratio(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


class SellerHistory(TransformerMixin, BaseEstimator):
    """Point-in-time seller history features (`FEATURES`), learned from the training rows and their
    review scores `y`; see the module docstring. Rows without a seller or purchase time get NaN; a
    seller unseen at fit has 0 prior orders and NaN for the share and the mean."""

    def fit(self, X: pd.DataFrame, y: Any) -> SellerHistory:
        missing = [c for c in HISTORY_INPUTS if c not in X.columns]
        if missing:
            raise ValueError(f"SellerHistory.fit needs column(s) {missing}")
        if y is None:
            raise ValueError("SellerHistory.fit needs y, the review scores of the rows")
        score = np.asarray(y, dtype=np.float64)
        if score.shape != (len(X),):
            raise ValueError(f"y has shape {score.shape}, expected ({len(X)},)")

        # Seller codes in the sorted order of the ids: a request finds its seller by binary search.
        seller_code, sellers = pd.factorize(X[SELLER], sort=True)
        order_code, orders = pd.factorize(X[ORDER])
        rows = np.flatnonzero((seller_code >= 0) & (order_code >= 0))
        # One record per (seller, order): rows sorted by record, then reduced per record segment.
        record = seller_code[rows].astype(np.int64) * max(len(orders), 1) + order_code[rows]
        by_record = np.argsort(record, kind="stable")
        rows, record = rows[by_record], record[by_record]
        first = np.flatnonzero(np.r_[True, record[1:] != record[:-1]]) if len(rows) else np.array([], dtype=np.int64)

        def latest(values: np.ndarray) -> np.ndarray:
            # The latest of the record's rows (NaT is the smallest int64, so any date wins over it): an
            # order-level column is the same on all rows; where reviews differ, the record's mean score
            # is only used once all of them were answered.
            return np.maximum.reduceat(values, first) if len(first) else values[:0]

        seller = seller_code[rows][first].astype(np.int64)
        row_answered = _times(X[ANSWERED])[rows]
        purchase, delivered, estimated = (latest(_times(X[c])[rows]) for c in (PURCHASE, DELIVERED, ESTIMATED))
        answered = latest(row_answered)
        row_score = score[rows]
        scored = ~np.isnan(row_score) & (row_answered != _NAT)  # a score without an answer date is undated: unused
        n_scored = np.add.reduceat(scored.astype(np.float64), first) if len(first) else row_score[:0]
        score_sum = np.add.reduceat(np.where(scored, row_score, 0.0), first) if len(first) else row_score[:0]

        known = purchase != _NAT
        # A delivery or answer dated before its own purchase is a data error: never let it count early.
        delivered = np.where(known & (delivered < purchase), _NAT, delivered)
        answered = np.where(known & (answered < purchase), _NAT, answered)
        has_delivery = (delivered != _NAT) & (estimated != _NAT)
        has_review = (answered != _NAT) & (n_scored > 0)

        # numpy arrays and plain objects only: the model is saved with skops, which trusts no pandas type.
        self.sellers_ = np.asarray(sellers, dtype=object)
        self.purchases_ = _Events(seller[known], purchase[known], None)
        self.deliveries_ = _Events(seller[has_delivery], delivered[has_delivery], (delivered > estimated)[has_delivery].astype(np.float64))
        self.reviews_ = _Events(seller[has_review], answered[has_review], score_sum[has_review] / n_scored[has_review])
        self.feature_names_in_ = np.asarray(REQUEST_INPUTS, dtype=object)
        self.n_features_in_ = len(REQUEST_INPUTS)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "sellers_")
        missing = [c for c in REQUEST_INPUTS if c not in X.columns]
        if missing:
            raise ValueError(f"SellerHistory.transform needs column(s) {missing}")
        seller_ids = X[SELLER]
        seller = self._seller_codes(seller_ids)
        time = _times(X[PURCHASE])
        seen, dated = seller >= 0, time != _NAT
        # A seller unseen at fit (with a known purchase time) has, as far as the history knows, no past.
        unseen = ~seen & seller_ids.notna().to_numpy() & dated
        seller[~seen] = 0  # any valid code: the values of these rows are overwritten below

        prior_orders, _ = self.purchases_.before(seller, time)
        delivered, late = self.deliveries_.before(seller, time)
        reviewed, score_sum = self.reviews_.before(seller, time)
        out = {
            FEATURES[0]: prior_orders,
            FEATURES[1]: _ratio(late, delivered),
            FEATURES[2]: _ratio(score_sum, reviewed),
        }
        for values in out.values():
            values[~(seen & dated)] = np.nan
        out[FEATURES[0]][unseen] = 0.0
        return pd.DataFrame(out, index=X.index)

    def _seller_codes(self, seller_ids: pd.Series) -> np.ndarray:
        """Each id's index in the sorted `sellers_` (-1: missing or unseen at fit). A binary search, not a
        hash table: nothing to build per call, so a one-row request's lookup costs microseconds, not
        a table of every seller."""
        ids = seller_ids.to_numpy(dtype=object)
        present = np.flatnonzero(seller_ids.notna().to_numpy())
        codes = np.full(len(ids), -1, dtype=np.int64)
        if len(self.sellers_) and len(present):
            at = np.minimum(np.searchsorted(self.sellers_, ids[present]), len(self.sellers_) - 1)
            found = self.sellers_[at] == ids[present]
            codes[present[found]] = at[found]
        return codes

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(FEATURES, dtype=object)
