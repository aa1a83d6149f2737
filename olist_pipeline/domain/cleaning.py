"""Cleaning strategies: row-level decisions taken before features are built.

Nothing here learns from the data (no statistics computed over all rows), so cleaning before the
split leaks nothing: imputation values are learned inside the model, on the training rows only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class CleaningReport:
    """Rows in, rows out, and why rows were dropped."""

    rows_in: int
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


def _drop(df: pd.DataFrame, keep: pd.Series, reason: str, report: CleaningReport) -> pd.DataFrame:
    n = int((~keep).sum())
    if n:
        report.dropped[reason] = report.dropped.get(reason, 0) + n
        df = df.loc[keep]
    return df


def impute_median(df: pd.DataFrame, columns: list[str], report: CleaningReport) -> pd.DataFrame:
    """Keep incomplete rows; their missing inputs are filled with training medians inside the model."""
    return df


def drop_incomplete(df: pd.DataFrame, columns: list[str], report: CleaningReport) -> pd.DataFrame:
    """Train only on rows where every input column of the feature set is present.

    Note: on Olist data this drops undelivered orders (no delivery date), which are mostly 1-star.
    """
    return _drop(df, df[columns].notna().all(axis=1), "incomplete feature inputs", report)


STRATEGIES = {"impute_median": impute_median, "drop_incomplete": drop_incomplete}


def clean(
    df: pd.DataFrame,
    strategy: str,
    feature_columns: list[str],
    target: str,
    drop_duplicate_rows: bool = True,
    valid_order_statuses: list[str] | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the shared row filters, then the named strategy. Returns a new frame and a report."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown cleaning strategy {strategy!r}; valid: {sorted(STRATEGIES)}")
    report = CleaningReport(rows_in=len(df))
    df = _drop(df, df[target].notna(), f"missing {target}", report)
    if drop_duplicate_rows:
        df = _drop(df, ~df.duplicated(), "duplicate row", report)
    if valid_order_statuses is not None:
        df = _drop(df, df["order_status"].isin(valid_order_statuses), "order_status not kept", report)
    df = STRATEGIES[strategy](df, feature_columns, report)
    report.rows_out = len(df)
    return df.reset_index(drop=True), report
