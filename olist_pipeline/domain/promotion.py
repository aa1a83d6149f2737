"""The promotion gate as pure functions: the reasons a candidate cannot be judged, its thresholds, then
the comparison with the champion re-scored on the candidate's own test rows.

Loading the champion is I/O, so the caller does it (only when `needs_champion_scores` says the gate will
compare) and passes the result in a `ChampionView`. Top-level imports stay light: the config validates
thresholds with this module while composing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from olist_pipeline.domain.tasks import HIGHER_IS_BETTER, Scoring

if TYPE_CHECKING:
    import pandas as pd

#: Metrics the gate understands (every task's), and whether higher is better.
GATE_METRICS: dict[str, bool] = HIGHER_IS_BETTER


def parse_threshold(key: str) -> tuple[str, str]:
    """`r2_min` -> ("r2", "min"). Raises ValueError for anything else."""
    metric, _, bound = key.rpartition("_")
    if bound not in ("min", "max") or metric not in GATE_METRICS:
        valid = [f"{m}_{b}" for m in GATE_METRICS for b in ("min", "max")]
        raise ValueError(f"unknown threshold {key!r}; valid: {valid}")
    return metric, bound


@dataclass(frozen=True)
class Decision:
    """What the gate decided and why, in words a user reads in the run summary."""

    promoted: bool
    reasons: list[str] = field(default_factory=list)  # why not promoted (empty when promoted)
    checks: list[str] = field(default_factory=list)  # what passed

    @property
    def summary(self) -> str:
        if self.promoted:
            return "promoted: " + "; ".join(self.checks)
        return "not promoted: " + "; ".join(self.reasons)

    def as_metadata(self) -> dict[str, object]:
        return {"promoted": self.promoted, "summary": self.summary, "reasons": self.reasons, "checks": self.checks}


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def decide(
    candidate: dict[str, float],
    thresholds: dict[str, float],
    compare_metric: str,
    min_improvement: float,
    champion: dict[str, float] | None = None,
    champion_label: str = "champion",
) -> Decision:
    """Promote `candidate` only if every threshold holds and it beats `champion` by `min_improvement`.

    `champion` must be the current production model's metrics computed on the candidate's test rows
    (None when there is no production model yet: thresholds alone decide).
    """
    reasons: list[str] = []
    checks: list[str] = []
    for key, limit in sorted(thresholds.items()):
        metric, bound = parse_threshold(key)
        value = candidate.get(metric)
        if value is None:
            reasons.append(f"{metric} was not measured (needed by {key})")
        elif bound == "min" and value < limit:
            reasons.append(f"{metric} {_fmt(value)} < {_fmt(limit)}")
        elif bound == "max" and value > limit:
            reasons.append(f"{metric} {_fmt(value)} > {_fmt(limit)}")
        else:
            checks.append(f"{metric} {_fmt(value)} {'>=' if bound == 'min' else '<='} {_fmt(limit)}")
    if champion is not None:
        ours, theirs = candidate.get(compare_metric), champion.get(compare_metric)
        if ours is None or theirs is None:
            reasons.append(f"{compare_metric} missing for the comparison with the {champion_label}")
        else:
            gain = ours - theirs if GATE_METRICS[compare_metric] else theirs - ours
            line = (
                f"{compare_metric} {_fmt(ours)} vs {champion_label} {_fmt(theirs)} on the same test rows "
                f"(improvement {_fmt(gain)}, needed {_fmt(min_improvement)})"
            )
            if gain >= min_improvement and gain > 0:
                checks.append(line)
            else:
                reasons.append(f"does not beat the {champion_label}: {line}")
    else:
        checks.append("no production model yet")
    return Decision(promoted=not reasons, reasons=reasons, checks=checks)


#: Errors re-scoring the champion on the candidate's rows that mean "cannot compare" (e.g. it needs
#: columns this data lacks), not a bug: the champion is kept and the reason shown.
RESCORE_ERRORS: tuple[type[Exception], ...] = (ValueError, KeyError, TypeError, AttributeError)


@dataclass(frozen=True)
class ChampionView:
    """The production model as the gate sees it: which version, and its metrics on the candidate's test
    rows (`metrics`) or why they could not be measured (`error`)."""

    number: int
    registry_version: str | None
    metrics: dict[str, float] | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        return f"champion v{self.number}"


def _not_judged(
    enabled: bool, evaluation_split: str, candidate_registry_version: str, champion: ChampionView | None
) -> Decision | None:
    """Why the candidate is registered without being judged, or None when the gate judges it."""
    from olist_pipeline.domain.splits import TEST

    if not enabled:
        return Decision(False, ["promotion disabled (promotion.enabled=false): registered only"])
    if evaluation_split != TEST:
        return Decision(False, [f"scored on the {evaluation_split} split; only test metrics can promote"])
    if champion is not None and champion.registry_version == candidate_registry_version:
        return Decision(False, [f"the candidate is the production model already (v{champion.number})"])
    return None


def needs_champion_scores(
    enabled: bool, evaluation_split: str, candidate_registry_version: str, champion: ChampionView | None
) -> bool:
    """Whether `gate` will compare with `champion`: only then is it worth loading and re-scoring."""
    return champion is not None and _not_judged(enabled, evaluation_split, candidate_registry_version, champion) is None


def gate(
    candidate: dict[str, float],
    *,
    enabled: bool,
    thresholds: dict[str, float],
    compare_metric: str,
    min_improvement: float,
    evaluation_split: str,
    candidate_registry_version: str,
    champion: ChampionView | None,
) -> Decision:
    """The whole decision for one candidate: not judged (disabled, not test metrics, already production),
    champion not comparable, or `decide` on thresholds and the champion's re-scored metrics.

    `champion` is None when there is no production model; otherwise, when `needs_champion_scores` is true,
    it must carry `metrics` or `error`.
    """
    blocked = _not_judged(enabled, evaluation_split, candidate_registry_version, champion)
    if blocked is not None:
        return blocked
    if champion is None:
        return decide(candidate, thresholds, compare_metric, min_improvement)
    if champion.error is not None:
        return Decision(False, [f"{champion.label} cannot be re-scored on this candidate's test rows ({champion.error})"])
    if champion.metrics is None:
        raise ValueError(f"{champion.label} has neither metrics nor an error: re-score it before the gate")
    return decide(
        candidate, thresholds, compare_metric, min_improvement, champion=champion.metrics, champion_label=champion.label
    )


def rescore(
    model: Any, rows: pd.DataFrame, target: pd.Series, partition: pd.Series, metrics: list[str] | None, scoring: Scoring
) -> dict[str, float]:
    """A model's metrics on the test rows of `partition`, measured as the candidate's were: the champion
    is judged on exactly the rows and numbers the candidate was. Raises what the model raises (see
    RESCORE_ERRORS) when it cannot predict these rows."""
    from olist_pipeline.domain.metrics import model_scores
    from olist_pipeline.domain.splits import TEST
    from olist_pipeline.domain.tasks import predict_scores

    test = (partition == TEST).to_numpy()
    scores = predict_scores(model, rows.loc[test], scoring.kind)
    return model_scores(target.loc[test].to_numpy(), scores, metrics, scoring)


def promotion_record(
    decision: Decision, *, model_name: str, model_version: int, registry_version: str, champion: ChampionView | None
) -> dict[str, Any]:
    """The gate's outcome as run metadata: what the run summary shows and what production is afterwards."""
    record: dict[str, Any] = {
        **decision.as_metadata(),
        "model_name": model_name,
        "model_version": int(model_version),
        "registry_version": registry_version,
        "champion_before": champion.number if champion else None,
        "champion_before_registry_version": champion.registry_version if champion else None,
        "champion_metrics_on_candidate_test_rows": champion.metrics if champion else None,
    }
    return {k: v for k, v in record.items() if v is not None}
