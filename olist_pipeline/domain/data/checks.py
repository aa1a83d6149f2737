"""Soft checks a dataset declaration can name (`soft_checks: [...]`): suspicious but real findings,
counted, logged and recorded as run metadata, never fatal. Register a new one here, by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class SoftCheck:
    """A row-wise check: `passes(df)` is True for the rows without the problem."""

    description: str
    passes: Callable[[pd.DataFrame], pd.Series]


def _timestamps(df: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_datetime(df[column], errors="coerce", format="ISO8601")


def _delivered_not_before_purchase(df: pd.DataFrame) -> pd.Series:
    return ~(_timestamps(df, "order_delivered_customer_date") < _timestamps(df, "order_purchase_timestamp"))


def _delivered_has_date(df: pd.DataFrame) -> pd.Series:
    return ~((df["order_status"] == "delivered") & df["order_delivered_customer_date"].isna())


SOFT_CHECKS: dict[str, SoftCheck] = {
    # Olist orders: the merged table and the Kaggle join.
    "delivered_before_purchase": SoftCheck("delivered before purchase", _delivered_not_before_purchase),
    "delivered_without_date": SoftCheck("status delivered without delivery date", _delivered_has_date),
}
