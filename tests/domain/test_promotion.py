"""The promotion gate as a pure function, and its configuration."""

from __future__ import annotations

import pandas as pd
import pytest

from olist_pipeline.domain.tasks import Scoring

from olist_pipeline.config.compose import compose_spec
from olist_pipeline.config.compose import compose_config
from olist_pipeline.errors import ConfigError
from olist_pipeline.domain.promotion import (
    ChampionView,
    Decision,
    decide,
    gate,
    needs_champion_scores,
    parse_threshold,
    promotion_record,
    rescore,
)

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


RULES = {"thresholds": THRESHOLDS, "compare_metric": "r2", "min_improvement": 0.002}
CHAMPION = ChampionView(number=2, registry_version="2")


def _gate(candidate=GOOD, enabled=True, split="test", version="5", champion=None):
    return gate(
        candidate, **RULES, enabled=enabled, evaluation_split=split, candidate_registry_version=version, champion=champion
    )


@pytest.mark.parametrize(
    ("kwargs", "summary"),
    [
        ({"enabled": False}, "not promoted: promotion disabled (promotion.enabled=false): registered only"),
        ({"split": "validation"}, "not promoted: scored on the validation split; only test metrics can promote"),
        ({"version": "2", "champion": CHAMPION}, "not promoted: the candidate is the production model already (v2)"),
    ],
)
def test_candidates_the_gate_does_not_judge(kwargs, summary):
    decision = _gate(**kwargs)
    assert not decision.promoted and decision.summary == summary
    champion = kwargs.get("champion", CHAMPION)
    version = kwargs.get("version", "5")
    assert not needs_champion_scores(kwargs.get("enabled", True), kwargs.get("split", "test"), version, champion)


def test_disabled_blocks_even_a_candidate_that_would_pass():
    assert _gate(enabled=False, champion=ChampionView(2, "2", metrics={"r2": 0.1})).reasons == [
        "promotion disabled (promotion.enabled=false): registered only"
    ]


def test_champion_scores_are_needed_only_for_a_comparison():
    assert needs_champion_scores(True, "test", "5", CHAMPION)
    assert not needs_champion_scores(True, "test", "5", None)


def test_without_a_champion_thresholds_decide():
    assert _gate().promoted and "no production model yet" in _gate().summary
    assert _gate({**GOOD, "r2": 0.2}).summary == "not promoted: r2 0.2 < 0.25"


def test_a_champion_that_cannot_be_rescored_is_kept():
    decision = _gate(champion=ChampionView(2, "2", error="columns are missing: {'price'}"))
    assert not decision.promoted
    assert decision.summary == (
        "not promoted: champion v2 cannot be re-scored on this candidate's test rows (columns are missing: {'price'})"
    )


@pytest.mark.parametrize(("champion_r2", "promoted"), [(0.50, True), (0.549, False), (0.60, False)])
def test_rescored_champion_is_compared_on_the_same_rows(champion_r2, promoted):
    decision = _gate(champion=ChampionView(2, "2", metrics={"r2": champion_r2}))
    assert decision.promoted is promoted
    assert "vs champion v2" in decision.summary and "on the same test rows" in decision.summary
    if not promoted:
        assert "does not beat the champion v2" in decision.summary


def test_a_champion_not_rescored_is_a_caller_error():
    with pytest.raises(ValueError, match="re-score it before the gate"):
        _gate(champion=CHAMPION)


def test_rescore_uses_only_the_test_rows():
    class Echo:
        def predict(self, X):
            return X["guess"].to_numpy()

    rows = pd.DataFrame({"guess": [5.0, 1.0, 4.0, 2.0]})
    target = pd.Series([5.0, 1.0, 1.0, 1.0])
    partition = pd.Series(["test", "test", "train", "validation"])
    scores = rescore(Echo(), rows, target, partition, ["mae", "r2"], Scoring())
    assert scores["mae"] == 0.0 and scores["r2"] == 1.0 and scores["low_score_recall"] == 1.0
    assert list(scores)[:2] == ["mae", "r2"] and "mae_score_1" in scores


def test_rescore_lets_a_model_that_cannot_predict_raise():
    class Picky:
        def predict(self, X):
            raise ValueError("columns are missing: {'price'}")

    one = pd.Series(["test"])
    with pytest.raises(ValueError, match="columns are missing"):
        rescore(Picky(), pd.DataFrame({"x": [1]}), pd.Series([1.0]), one, None, Scoring())


def test_promotion_record_names_the_champion_before_and_drops_blanks():
    champion = ChampionView(2, "2", metrics={"r2": 0.5})
    record = promotion_record(
        Decision(True, checks=["ok"]), model_name="m", model_version=3, registry_version="3", champion=champion
    )
    assert record["promoted"] is True and record["model_version"] == 3 and record["champion_before"] == 2
    assert record["champion_metrics_on_candidate_test_rows"] == {"r2": 0.5}
    first = promotion_record(Decision(True), model_name="m", model_version=1, registry_version="1", champion=None)
    assert "champion_before" not in first and "champion_metrics_on_candidate_test_rows" not in first


def test_parse_threshold():
    assert parse_threshold("r2_min") == ("r2", "min")
    assert parse_threshold("low_score_recall_max") == ("low_score_recall", "max")
    assert parse_threshold("roc_auc_min") == ("roc_auc", "min")  # a binary task's metric
    for bad in ("r2", "r2_low", "auc_min"):
        with pytest.raises(ValueError, match="unknown threshold"):
            parse_threshold(bad)


def test_config_rejects_unknown_threshold_and_metric():
    with pytest.raises(ConfigError, match=r"promotion.thresholds.*unknown threshold 'r3_min'"):
        compose_spec(compose_config(["+promotion.thresholds.r3_min=0.1"]))
    with pytest.raises(ConfigError, match=r"promotion.compare_metric.*unknown metric"):
        compose_spec(compose_config(["promotion.compare_metric=accuracy"]))  # a binary metric, task regression
    with pytest.raises(ConfigError, match=r"promotion.min_improvement"):
        compose_spec(compose_config(["promotion.min_improvement=-1"]))


def test_model_version_override_is_text():
    spec, _, _ = compose_spec(compose_config(["pipeline=lineage", "model_version=17"]))
    assert spec.model_version == "17" and spec.pipeline.name == "lineage"
