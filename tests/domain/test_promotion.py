"""The promotion gate as a pure function, and its configuration."""

from __future__ import annotations

import pytest

from olist_pipeline.config.compose import compose_spec
from olist_pipeline.config.compose import compose_config
from olist_pipeline.errors import ConfigError
from olist_pipeline.domain.promotion import decide, parse_threshold

GOOD = {"rmse": 0.95, "mae": 0.67, "r2": 0.55, "low_score_recall": 0.76}
THRESHOLDS = {"r2_min": 0.25, "rmse_max": 1.3}


def test_first_candidate_passing_thresholds_is_promoted():
    decision = decide(GOOD, THRESHOLDS, "r2", 0.002)
    assert decision.promoted and decision.reasons == []
    assert decision.summary.startswith("promoted: ") and "no production model yet" in decision.summary


def test_threshold_failure_names_metric_value_and_limit():
    decision = decide({**GOOD, "r2": 0.21}, THRESHOLDS, "r2", 0.0)
    assert not decision.promoted
    assert decision.summary == "not promoted: r2 0.21 < 0.25"


def test_every_failing_threshold_is_listed():
    decision = decide({"r2": 0.0, "rmse": 1.4}, THRESHOLDS, "r2", 0.0)
    assert decision.reasons == ["r2 0 < 0.25", "rmse 1.4 > 1.3"]


def test_unmeasured_metric_blocks():
    decision = decide({"rmse": 0.9}, {"low_score_recall_min": 0.5}, "r2", 0.0)
    assert not decision.promoted and "low_score_recall was not measured" in decision.summary


@pytest.mark.parametrize(
    ("candidate", "champion", "metric", "promoted"),
    [
        (0.55, 0.50, "r2", True),  # higher is better, beats by 0.05
        (0.501, 0.50, "r2", False),  # beats, but by less than min_improvement
        (0.50, 0.50, "r2", False),  # a tie keeps the champion
        (0.45, 0.50, "r2", False),
        (0.90, 0.95, "rmse", True),  # lower is better
        (0.95, 0.95, "rmse", False),
        (1.00, 0.95, "rmse", False),
    ],
)
def test_champion_comparison_respects_direction_and_margin(candidate, champion, metric, promoted):
    decision = decide(
        {**GOOD, metric: candidate}, {}, metric, 0.002, champion={metric: champion}, champion_label="champion v3"
    )
    assert decision.promoted is promoted
    if not promoted:
        assert "does not beat the champion v3" in decision.summary and "same test rows" in decision.summary


def test_threshold_and_champion_failures_are_both_reported():
    decision = decide({**GOOD, "r2": 0.2}, THRESHOLDS, "r2", 0.0, champion={"r2": 0.5})
    assert len(decision.reasons) == 2


def test_parse_threshold():
    assert parse_threshold("r2_min") == ("r2", "min")
    assert parse_threshold("low_score_recall_max") == ("low_score_recall", "max")
    for bad in ("r2", "r2_low", "accuracy_min"):
        with pytest.raises(ValueError, match="unknown threshold"):
            parse_threshold(bad)


def test_config_rejects_unknown_threshold_and_metric():
    with pytest.raises(ConfigError, match=r"promotion.thresholds.*unknown threshold 'r3_min'"):
        compose_spec(compose_config(["+promotion.thresholds.r3_min=0.1"]))
    with pytest.raises(ConfigError, match=r"promotion.compare_metric.*unknown metric"):
        compose_spec(compose_config(["promotion.compare_metric=accuracy"]))
    with pytest.raises(ConfigError, match=r"promotion.min_improvement"):
        compose_spec(compose_config(["promotion.min_improvement=-1"]))


def test_model_version_override_is_text():
    spec, _, _ = compose_spec(compose_config(["pipeline=lineage", "model_version=17"]))
    assert spec.model_version == "17" and spec.pipeline.name == "lineage"
