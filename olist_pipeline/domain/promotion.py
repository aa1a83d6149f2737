"""The promotion gate as a pure function: thresholds, then the champion comparison on the same rows."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Metrics the gate understands, and whether higher is better.
GATE_METRICS: dict[str, bool] = {
    "mse": False,
    "rmse": False,
    "mae": False,
    "r2": True,
    "low_score_recall": True,
}


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
