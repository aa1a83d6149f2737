"""Two model versions side by side (`pipeline=compare a=N b=M`), as plain data: the config keys that
differ, their data, their code, both models scored on the same rows (b's test rows) and both gate
outcomes. `olist_pipeline/runs/compare.py` gathers the records; this module scores and renders them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from olist_pipeline.domain.promotion import RESCORE_ERRORS, rescore
from olist_pipeline.domain.reproduce import partition_counts

#: Metrics shown first, in this order; any others follow alphabetically.
METRIC_ORDER = ("mse", "rmse", "mae", "r2", "low_score_recall")


def score_on_same_rows(
    models: Mapping[str, Any],
    rows: pd.DataFrame,
    target: pd.Series,
    partition: pd.Series,
    metrics: list[str] | None,
    scoring: Any,
) -> dict[str, dict[str, float] | str]:
    """Each model's metrics on the test rows of `partition`, measured as the gate re-scores a champion
    (`promotion.rescore`, with the task's `scoring`), or why it cannot predict them (e.g. a column its
    features need is missing)."""
    scores: dict[str, dict[str, float] | str] = {}
    for label, model in models.items():
        try:
            scores[label] = rescore(model, rows, target, partition, metrics, scoring)
        except RESCORE_ERRORS as exc:
            scores[label] = f"cannot be scored on these rows: {exc}"
    return scores


def data_rows(
    a: Mapping[str, str], b: Mapping[str, str], partition_a: pd.Series, partition_b: pd.Series
) -> list[tuple[str, str, str]]:
    """(what, a's, b's) for the data behind each version: file, sha256 (same or different), rows per partition.
    `a` and `b` hold `path` and `sha256` (a lineage's `data`)."""
    same = a.get("sha256") == b.get("sha256")
    counts_a, counts_b = partition_counts(partition_a), partition_counts(partition_b)
    return [
        ("file", str(a.get("path", "?")), str(b.get("path", "?"))),
        ("sha256", str(a.get("sha256", "?"))[:16], f"{str(b.get('sha256', '?'))[:16]} ({'same' if same else 'different'})"),
        ("rows", str(len(partition_a)), str(len(partition_b))),
        *(
            (f"{name} rows", str(counts_a.get(name, 0)), str(counts_b.get(name, 0)))
            for name in sorted(set(counts_a) | set(counts_b))
        ),
    ]


def metric_names(scores: Mapping[str, Mapping[str, float] | str]) -> list[str]:
    """The metrics any model was scored on, the usual ones first."""
    found = {name for value in scores.values() if not isinstance(value, str) for name in value}
    return [m for m in METRIC_ORDER if m in found] + sorted(found - set(METRIC_ORDER))


@dataclass(frozen=True)
class Comparison:
    """Everything `pipeline=compare` shows about versions `a` and `b` of `model_name`."""

    model_name: str
    a: int
    b: int
    config: dict[str, tuple[str | None, str | None]]
    data: list[tuple[str, str, str]]
    code: str
    scored_rows: int
    scores: dict[str, dict[str, float] | str]
    gates: dict[str, str]

    @property
    def labels(self) -> tuple[str, str]:
        return f"v{self.a}", f"v{self.b}"

    def score_table(self) -> list[tuple[str, str, str]]:
        """(metric, a's score, b's score) on b's test rows."""
        la, lb = self.labels
        rows = []
        for name in metric_names(self.scores):
            cells = []
            for label in (la, lb):
                value = self.scores.get(label)
                cells.append("-" if isinstance(value, str) or value is None else f"{value[name]:.4f}")
            rows.append((name, *cells))
        return rows

    def markdown(self) -> str:
        """The comparison as a markdown page (logged to MLflow on b's run)."""
        la, lb = self.labels

        def table(header: tuple[str, str, str], rows: list[tuple[Any, Any, Any]]) -> list[str]:
            def cell(value: Any) -> str:
                return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

            return [f"| {' | '.join(header)} |", "|---|---|---|", *(f"| {' | '.join(cell(v) for v in r)} |" for r in rows)]

        lines = [f"# {self.model_name}: {la} vs {lb}", "", "## Config (keys that differ)", ""]
        lines += table(("key", la, lb), [(k, *v) for k, v in self.config.items()]) if self.config else ["(none)"]
        lines += ["", "## Data", ""] + table(("", la, lb), self.data)
        lines += ["", "## Code", "", "```", self.code.rstrip() or "(no difference)", "```"]
        lines += ["", f"## Scores on {lb}'s test rows ({self.scored_rows} rows)", ""]
        lines += table(("metric", la, lb), self.score_table())
        lines += [f"- {label}: {value}" for label, value in self.scores.items() if isinstance(value, str)]
        lines += ["", "## Promotion gate", ""] + [f"- {label}: {summary}" for label, summary in self.gates.items()]
        return "\n".join(lines) + "\n"
