"""Train / validation / test partitions, as one label per row (no copies of the data).

`grouped` keeps every order on one side: the merged table has one row per item x payment, so a
random row split puts rows of the same order in train and test and flatters the metrics.
`temporal` trains on orders purchased before a cutoff and tests on later ones (as a deployed model
would be used); rows of one order share their purchase time, so orders stay whole there too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

TRAIN, VALIDATION, TEST = "train", "validation", "test"


def _two_way(n_rows: int, size: float, groups: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if groups is None:
        splitter = ShuffleSplit(n_splits=1, test_size=size, random_state=seed)
        return next(splitter.split(np.zeros(n_rows)))
    splitter = GroupShuffleSplit(n_splits=1, test_size=size, random_state=seed)
    return next(splitter.split(np.zeros(n_rows), groups=groups))


def _temporal(times: pd.Series, test_size: float, validation_size: float, cutoff: str | None) -> np.ndarray:
    if times.isna().any():
        raise ValueError(f"temporal split: {int(times.isna().sum())} row(s) without a time")
    test_from = pd.Timestamp(cutoff) if cutoff else times.quantile(1 - test_size)
    labels = np.where(times >= test_from, TEST, TRAIN).astype(object)
    if not (labels == TRAIN).any() or not (labels == TEST).any():
        raise ValueError(f"temporal split: cutoff {test_from} leaves one side empty")
    if validation_size > 0:
        train_times = times[labels == TRAIN]
        labels[(labels == TRAIN) & (times >= train_times.quantile(1 - validation_size))] = VALIDATION
    return labels


def partition(
    df: pd.DataFrame,
    strategy: str,
    test_size: float,
    validation_size: float = 0.0,
    group_column: str | None = "order_id",
    seed: int = 42,
    time_column: str | None = "order_purchase_timestamp",
    cutoff: str | None = None,
) -> pd.Series:
    """Label each row `train`, `validation` or `test`. `grouped` without a `group_column`: rows are
    their own groups.

    `validation_size` is a share of the training side (for anything that tunes), never of test.
    For `temporal`, test is the rows at or after `cutoff` (default: the latest `test_size` share) and
    validation the latest share of what remains.
    """
    if strategy == "temporal":
        times = pd.to_datetime(df[time_column], errors="coerce", format="ISO8601")
        labels = _temporal(times, test_size, validation_size, cutoff)
        return pd.Series(labels, index=df.index, name="partition", dtype="category")
    if strategy not in ("random", "grouped"):
        raise ValueError(f"unknown split strategy {strategy!r}; valid: ['grouped', 'random', 'temporal']")
    # Integer codes in the sort order of the ids: the same groups, classes and shuffle as the ids
    # themselves (so the same split), without sorting a million strings twice.
    # A table without a group column: every row is its own group (grouped is random).
    groups = pd.factorize(df[group_column], sort=True)[0] if strategy == "grouped" and group_column else None
    if groups is not None and groups.max(initial=-1) < 1:
        raise ValueError(f"grouped split needs at least 2 distinct {group_column!r} values")
    labels = np.full(len(df), TRAIN, dtype=object)
    train_idx, test_idx = _two_way(len(df), test_size, groups, seed)
    labels[test_idx] = TEST
    if validation_size > 0:
        sub_groups = None if groups is None else groups[train_idx]
        fit_idx, val_idx = _two_way(len(train_idx), validation_size, sub_groups, seed + 1)
        labels[train_idx[val_idx]] = VALIDATION
    return pd.Series(labels, index=df.index, name="partition", dtype="category")
