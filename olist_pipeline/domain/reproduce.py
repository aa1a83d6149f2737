"""Is a model version reproduced? Pure functions over what two training runs recorded and produced: the
version's own run and its re-run from the recorded commit, config and data.

The reproduce job (`olist_pipeline/runs/reproduce.py`) gathers, for each run, its metrics, its flat config
(the MLflow params), its split (one label per row) and its predictions on the version's own test rows;
`verdict` compares them. The checks the job makes before re-training (a clean, known commit; the same
libraries) and the overrides of the re-run are here too, as plain functions of the record.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Metrics and predictions must agree to this absolute difference for a version to count as reproduced.
TOLERANCE = 1e-9

#: Config keys that say where a run keeps its records and how the framework runs it, not what it
#: computes: a re-run in a scratch directory differs there by design, so they are never compared.
WHERE_NOT_WHAT = ("paths.", "stack.", "serving.", "pipeline.")

#: Keys the reproduce job sets itself: no promotion, and the data pinned to the recorded file and bytes
#: (the data is checked by its sha256 instead).
SET_BY_REPRODUCE = ("promotion.enabled", "dataset.path", "dataset.sha256")


def override_key(override: str) -> str:
    """`+env=dev` -> `env`, `~model.alpha` -> `model.alpha`, `model.alpha=3` -> `model.alpha`."""
    return override.split("=", 1)[0].lstrip("+~")


def rerun_overrides(
    recorded: Iterable[str], forced: Mapping[str, str], drop_under: tuple[str, ...] = ("stack.", "hydra.")
) -> list[str]:
    """The overrides of a re-run: the recorded ones, minus any that set a key of `forced` or a key under
    `drop_under` (the re-run chooses its own stack), then `forced` as `key=value`."""
    kept = [o for o in recorded if override_key(o) not in forced and not override_key(o).startswith(drop_under)]
    return [*kept, *(f"{key}={value}" for key, value in forced.items())]


def commit_refusal(commit: str, label: str) -> str | None:
    """Why the recorded `commit` cannot be checked out to reproduce `label`, or None when it can."""
    if not commit or commit == "unknown":
        return f"{label} has no recorded git commit: its code cannot be checked out"
    if commit.endswith("-dirty"):
        return (
            f"{label} was trained from uncommitted changes on top of commit {commit.removesuffix('-dirty')[:12]}: "
            "no commit holds its code, so it cannot be reproduced"
        )
    return None


def library_differences(recorded: Mapping[str, str], installed: Mapping[str, str]) -> list[str]:
    """`numpy 2.1.0 recorded, 2.2.0 installed` for every recorded library whose installed version differs."""
    return [
        f"{name} {recorded[name]} recorded, " + (f"{installed[name]} installed" if name in installed else "not installed")
        for name in sorted(recorded)
        if installed.get(name) != recorded[name]
    ]


def config_differences(
    a: Mapping[str, str], b: Mapping[str, str], ignore: Iterable[str] = ()
) -> dict[str, tuple[str | None, str | None]]:
    """The flat config keys whose values differ (or exist on one side only): key -> (a's, b's).
    A key in `ignore` ending with `.` ignores everything under it; any other ignores that key."""
    ignore = tuple(ignore)
    groups = tuple(k for k in ignore if k.endswith("."))
    keys = sorted(set(a) | set(b))
    return {
        key: (a.get(key), b.get(key))
        for key in keys
        if a.get(key) != b.get(key) and key not in ignore and not key.startswith(groups)
    }


def partition_counts(partition: pd.Series) -> dict[str, int]:
    """Rows per partition label, e.g. {'test': 1003, 'train': 4024}."""
    return {str(k): int(v) for k, v in sorted(partition.astype(str).value_counts().items())}


def split_differences(recorded: pd.Series, reproduced: pd.Series) -> list[str]:
    """What differs between two splits of the same rows: rows on one side only, rows in another partition."""
    problems = []
    only_recorded = recorded.index.difference(reproduced.index)
    only_reproduced = reproduced.index.difference(recorded.index)
    if len(only_recorded) or len(only_reproduced):
        problems.append(f"{len(only_recorded)} row(s) only in the recorded split, {len(only_reproduced)} only in the re-run's")
    common = recorded.index.intersection(reproduced.index)
    moved = int((recorded.loc[common].astype(str) != reproduced.loc[common].astype(str)).sum())
    if moved:
        problems.append(f"{moved} row(s) in another partition")
    return problems


def max_abs_difference(a: Iterable[float], b: Iterable[float]) -> float:
    """The largest absolute difference between two prediction vectors (inf when their lengths differ)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        return math.inf
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y)))


def _same(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tolerance


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.10g}"


@dataclass(frozen=True)
class RunOutcome:
    """What one training run produced, as the verdict compares it."""

    metrics: Mapping[str, float]
    params: Mapping[str, str]
    partition: pd.Series
    predictions: np.ndarray  # on the recorded version's own test rows


@dataclass(frozen=True)
class Check:
    """One line of the verdict table. `kind`: metric, predictions, params or split."""

    kind: str
    name: str
    recorded: str
    reproduced: str
    difference: str
    ok: bool
    gap: float = 0.0  # the absolute difference, for metrics and predictions


@dataclass(frozen=True)
class Verdict:
    """Every check, and what weakens a yes (libraries allowed to differ)."""

    checks: list[Check]
    caveats: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def answer(self) -> str:
        return "yes" if self.reproduced else "no"

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    @property
    def summary(self) -> str:
        """`yes`, `yes (weaker: ...)` or `no: <what differs, one clause per kind of check>`."""
        if self.reproduced:
            return "yes" + (f" (weaker: {'; '.join(self.caveats)})" if self.caveats else "")
        clauses = []
        metrics = [c for c in self.failures if c.kind == "metric"]
        if metrics:
            names = ", ".join(c.name.removeprefix("metric ") for c in metrics)
            total = sum(c.kind == "metric" for c in self.checks)
            clauses.append(f"{len(metrics)} of {total} metrics differ ({names}; largest difference {max(c.gap for c in metrics):.3g})")
        clauses += [f"{c.name} differ: {c.difference}" for c in self.failures if c.kind != "metric"]
        return "no: " + "; ".join(clauses)


def verdict(
    recorded: RunOutcome,
    reproduced: RunOutcome,
    tolerance: float = TOLERANCE,
    library_drift: Iterable[str] = (),
    ignore: Iterable[str] = WHERE_NOT_WHAT + SET_BY_REPRODUCE,
) -> Verdict:
    """Reproduced when every recorded metric and every prediction on the recorded test rows agree within
    `tolerance`, the config is the same (outside `ignore`) and every row is in the same partition.
    `library_drift` (from `library_differences`, allowed by the user) is shown and makes a yes weaker."""
    checks = []
    for name in sorted(recorded.metrics):
        ours, theirs = recorded.metrics[name], reproduced.metrics.get(name)
        ok = _same(ours, theirs, tolerance)
        gap = math.inf if theirs is None else abs(ours - theirs)
        diff = "missing" if theirs is None else f"{gap:.3g}"
        checks.append(Check("metric", f"metric {name}", _number(ours), _number(theirs), diff, ok, gap))
    rows = len(recorded.predictions)
    gap = max_abs_difference(recorded.predictions, reproduced.predictions)
    checks.append(
        Check(
            "predictions",
            "predictions",
            f"{rows} test rows",
            f"{len(reproduced.predictions)} rows",
            f"max abs {gap:.3g}" if math.isfinite(gap) else "different row counts",
            gap <= tolerance,
            gap,
        )
    )
    changed = config_differences(recorded.params, reproduced.params, ignore)
    checks.append(
        Check(
            "params",
            "params",
            f"{len(recorded.params)} keys",
            f"{len(reproduced.params)} keys",
            "; ".join(f"{k}: {a} -> {b}" for k, a, b in ((k, *v) for k, v in changed.items())) or "none",
            not changed,
        )
    )
    moved = split_differences(recorded.partition, reproduced.partition)
    counts = ", ".join(f"{k} {v}" for k, v in partition_counts(recorded.partition).items())
    checks.append(
        Check(
            "split",
            "split",
            counts,
            ", ".join(f"{k} {v}" for k, v in partition_counts(reproduced.partition).items()),
            "; ".join(moved) or "same rows in each partition",
            not moved,
        )
    )
    drift = list(library_drift)
    caveats = [f"library versions differ: {', '.join(drift)}"] if drift else []
    return Verdict(checks, caveats)
