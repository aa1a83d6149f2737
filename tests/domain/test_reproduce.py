"""Reproduce and compare as pure functions: the re-run's overrides, the refusals, the verdict, the
comparison page. End to end (real ZenML, MLflow, git): tests/e2e/test_reproduce.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from olist_pipeline.domain.comparison import Comparison, data_rows, metric_names
from olist_pipeline.domain.reproduce import (
    RunOutcome,
    commit_refusal,
    config_differences,
    library_differences,
    max_abs_difference,
    override_key,
    partition_counts,
    rerun_overrides,
    split_differences,
    verdict,
)

SHA = "0123456789abcdef0123456789abcdef01234567"


def outcome(**changes) -> RunOutcome:
    base = {
        "metrics": {"rmse": 0.9, "r2": 0.5, "mae": 0.7},
        "params": {"model.name": "ridge", "model.alpha": "1.0", "paths.state_dir": "/a/.olist", "promotion.enabled": "True",
                   "dataset.path": "/a/data.csv", "stack.zenml_config_path": "/a/.olist/zenml", "seed": "42"},
        "partition": pd.Series(["train", "test", "train", "test"], index=[0, 1, 2, 3], dtype="category"),
        "predictions": np.array([3.5, 4.25]),
    }  # fmt: skip
    return RunOutcome(**{**base, **changes})


@pytest.mark.parametrize(
    ("override", "key"),
    [("+env=dev", "env"), ("model.alpha=3", "model.alpha"), ("~model.alpha", "model.alpha"), ("++a.b=1", "a.b"), ("model=ridge", "model")],
)
def test_override_key(override, key):
    assert override_key(override) == key


def test_rerun_keeps_the_recorded_overrides_and_replaces_what_it_sets():
    recorded = ["+env=dev", "pipeline=cd", "paths.state_dir=/home/u/.olist", "model=ridge", "stack=server",
                "stack.mlflow_tracking_uri=http://x", "promotion.enabled=true", "model.alpha=3"]  # fmt: skip
    forced = {"pipeline": "training", "stack": "local", "paths.state_dir": "/tmp/s", "promotion.enabled": "false"}
    assert rerun_overrides(recorded, forced) == [
        "+env=dev", "model=ridge", "model.alpha=3",
        "pipeline=training", "stack=local", "paths.state_dir=/tmp/s", "promotion.enabled=false",
    ]  # fmt: skip


def test_a_dirty_or_unknown_commit_is_refused_with_the_reason():
    assert commit_refusal(SHA, "m v3") is None
    dirty = commit_refusal(f"{SHA}-dirty", "m v3")
    assert dirty.startswith("m v3 was trained from uncommitted changes on top of commit 0123456789ab")
    assert "cannot be reproduced" in dirty
    assert commit_refusal("unknown", "m v3") == "m v3 has no recorded git commit: its code cannot be checked out"
    assert commit_refusal("", "m v3") is not None


def test_library_differences_list_every_recorded_library_that_changed():
    recorded = {"python": "3.11.7", "numpy": "2.1.0", "pandas": "2.2.0", "skops": "0.10"}
    installed = {"python": "3.11.7", "numpy": "2.2.0", "pandas": "2.2.0", "scipy": "1.0"}
    assert library_differences(recorded, installed) == [
        "numpy 2.1.0 recorded, 2.2.0 installed",
        "skops 0.10 recorded, not installed",
    ]
    assert library_differences(recorded, recorded) == []


def test_config_differences_only_keys_that_differ_and_groups_can_be_ignored():
    a = {"model.name": "ridge", "model.alpha": "1.0", "paths.root": "/a", "seed": "42"}
    b = {"model.name": "ridge", "model.alpha": "3.0", "paths.root": "/b", "split.seed": "7", "seed": "42"}
    assert config_differences(a, b) == {"model.alpha": ("1.0", "3.0"), "paths.root": ("/a", "/b"), "split.seed": (None, "7")}
    assert config_differences(a, b, ignore=("paths.", "split.seed")) == {"model.alpha": ("1.0", "3.0")}


def test_split_differences_name_moved_and_missing_rows():
    recorded = pd.Series(["train", "test", "train", "test"], index=[0, 1, 2, 3], dtype="category")
    assert split_differences(recorded, recorded.copy()) == []
    moved = pd.Series(["test", "test", "train", "train"], index=[0, 1, 2, 3])
    assert split_differences(recorded, moved) == ["2 row(s) in another partition"]
    fewer = recorded.iloc[:3]
    assert split_differences(recorded, fewer) == ["1 row(s) only in the recorded split, 0 only in the re-run's"]
    assert partition_counts(recorded) == {"test": 2, "train": 2}


def test_max_abs_difference():
    assert max_abs_difference([1.0, 2.0], [1.0, 2.5]) == 0.5
    assert max_abs_difference([], []) == 0.0
    assert math.isinf(max_abs_difference([1.0], [1.0, 2.0]))


def test_identical_runs_are_reproduced():
    result = verdict(outcome(), outcome(params={**outcome().params, "paths.state_dir": "/tmp/scratch",
                                                "promotion.enabled": "False", "dataset.path": "/b/data.csv"}))  # fmt: skip
    assert result.reproduced and result.answer == "yes" and result.summary == "yes"
    names = [c.name for c in result.checks]
    assert names == ["metric mae", "metric r2", "metric rmse", "predictions", "params", "split"]
    assert all(c.ok for c in result.checks)


def test_differences_within_the_tolerance_still_reproduce_and_beyond_it_do_not():
    close = outcome(metrics={"rmse": 0.9 + 1e-12, "r2": 0.5, "mae": 0.7}, predictions=np.array([3.5, 4.25 + 1e-12]))
    assert verdict(outcome(), close).reproduced
    far = outcome(metrics={"rmse": 0.91, "r2": 0.49, "mae": 0.7}, predictions=np.array([3.5, 4.5]))
    result = verdict(outcome(), far)
    assert not result.reproduced and result.answer == "no"
    assert result.summary == "no: 2 of 3 metrics differ (r2, rmse; largest difference 0.01); predictions differ: max abs 0.25"
    assert verdict(outcome(), far, tolerance=0.5).reproduced


def test_a_different_config_or_split_is_not_reproduced():
    params = {**outcome().params, "model.alpha": "3.0"}
    split = pd.Series(["test", "test", "train", "train"], index=[0, 1, 2, 3])
    result = verdict(outcome(), outcome(params=params, partition=split))
    assert [c.name for c in result.failures] == ["params", "split"]
    assert "params differ: model.alpha: 1.0 -> 3.0" in result.summary
    assert "split differ: 2 row(s) in another partition" in result.summary


def test_a_missing_metric_is_a_difference():
    result = verdict(outcome(), outcome(metrics={"rmse": 0.9, "r2": 0.5}))
    assert [c.name for c in result.failures] == ["metric mae"] and result.failures[0].difference == "missing"


def test_allowed_library_drift_makes_a_yes_weaker():
    result = verdict(outcome(), outcome(), library_drift=["numpy 2.1.0 recorded, 2.2.0 installed"])
    assert result.reproduced
    assert result.summary == "yes (weaker: library versions differ: numpy 2.1.0 recorded, 2.2.0 installed)"


def test_comparison_page_shows_differing_keys_data_code_scores_and_gates():
    partition_a = pd.Series(["train"] * 6 + ["test"] * 2)
    partition_b = pd.Series(["train"] * 5 + ["test"] * 3)
    data = data_rows({"path": "/d.csv", "sha256": "a" * 64}, {"path": "/d.csv", "sha256": "a" * 64}, partition_a, partition_b)
    assert ("sha256", "a" * 16, f"{'a' * 16} (same)") in data
    assert ("test rows", "2", "3") in data and ("rows", "8", "8") in data
    comparison = Comparison(
        model_name="m", a=1, b=2,
        config={"model.name": ("ridge", "random_forest")},
        data=data,
        code="git diff --stat 0123 4567\n conf/model/ridge.yaml | 2 +-",
        scored_rows=3,
        scores={"v1": {"rmse": 1.25, "r2": 0.1}, "v2": "cannot be scored on these rows: 'price'"},
        gates={"v1": "promoted: r2 0.1 >= 0.1", "v2": "not promoted: promotion disabled"},
    )  # fmt: skip
    assert comparison.score_table() == [("rmse", "1.2500", "-"), ("r2", "0.1000", "-")]
    page = comparison.markdown()
    assert page.startswith("# m: v1 vs v2\n")
    assert "| model.name | ridge | random_forest |" in page
    assert "## Scores on v2's test rows (3 rows)" in page and "| rmse | 1.2500 | - |" in page
    assert "- v2: cannot be scored on these rows: 'price'" in page
    assert "conf/model/ridge.yaml | 2 +-" in page
    assert "- v1: promoted: r2 0.1 >= 0.1" in page
    assert metric_names({"a": {"zeta": 1.0, "rmse": 1.0, "mse": 1.0}}) == ["mse", "rmse", "zeta"]


def test_compare_needs_two_versions_and_reproduce_settings_are_checked():
    from olist_pipeline.config.compose import compose_config, compose_spec
    from olist_pipeline.errors import ConfigError

    spec, _, _ = compose_spec(compose_config(["pipeline=compare", "a=3", "b=5"]))
    assert (spec.a, spec.b) == ("3", "5")
    with pytest.raises(ConfigError, match=r"pipeline=compare needs two model versions: a=<version> b=<version>"):
        compose_spec(compose_config(["pipeline=compare", "a=3"]))
    spec, _, _ = compose_spec(compose_config(["pipeline=reproduce", "model_version=2", "+reproduce.allow_library_drift=true"]))
    assert spec.reproduce.allow_library_drift and spec.reproduce.tolerance == 1e-9 and spec.model_version == "2"
    with pytest.raises(ConfigError, match=r"reproduce\.tolerence: unknown key"):
        compose_spec(compose_config(["pipeline=reproduce", "+reproduce.tolerence=0.1"]))
