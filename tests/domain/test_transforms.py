"""Pure modules: cleaning, features (incl. the leakage guard), splits, models, metrics."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError  # noqa: F401

from olist_pipeline.domain.cleaning import clean
from olist_pipeline.domain.data.olist import TARGET_AND_LEAKY_COLUMNS, validate_merged
from olist_pipeline.domain.data.synthetic import generate_merged
from olist_pipeline.domain.features import DERIVED, OrderFeatures, build_preprocessor, input_columns
from olist_pipeline.domain.metrics import regression_metrics
from olist_pipeline.domain.models import build_estimator, build_model
from olist_pipeline.errors import DataError
from olist_pipeline.domain.splits import partition


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return validate_merged(generate_merged(1500, seed=21))[0]


ALL_DERIVED = sorted(DERIVED)


# --- cleaning ---------------------------------------------------------------------------------------
def test_impute_median_keeps_rows_drop_incomplete_drops(orders):
    cols = input_columns([], ["delivery_days"], [])
    kept, report = clean(orders, "impute_median", cols, "review_score")
    assert len(kept) == len(orders) and report.dropped == {}
    dropped, report = clean(orders, "drop_incomplete", cols, "review_score")
    n_missing = int(orders["order_delivered_customer_date"].isna().sum())
    assert n_missing > 0 and len(dropped) == len(orders) - n_missing
    assert report.dropped == {"incomplete feature inputs": n_missing}


def test_cleaning_drops_duplicates_and_statuses(orders):
    doubled = pd.concat([orders, orders.iloc[:5]])
    out, report = clean(doubled, "impute_median", [], "review_score", valid_order_statuses=["delivered"])
    assert report.dropped["duplicate row"] == 5
    assert set(out["order_status"]) == {"delivered"}


def test_unknown_cleaning_strategy(orders):
    with pytest.raises(ValueError, match="valid"):
        clean(orders, "magic", [], "review_score")


# --- features ---------------------------------------------------------------------------------------
def test_derived_features_values():
    rows = pd.DataFrame(
        {
            "order_id": ["a", "a", "b"],
            "order_item_id": [1, 2, 1],
            "seller_id": ["s1", "s2", "s1"],
            "payment_sequential": [1, 1, 1],
            "order_purchase_timestamp": ["2018-01-01 00:00:00"] * 3,
            "order_approved_at": ["2018-01-01 12:00:00"] * 3,
            "order_delivered_carrier_date": ["2018-01-03 12:00:00"] * 3,
            "order_delivered_customer_date": ["2018-01-11 00:00:00", "2018-01-11 00:00:00", None],
            "order_estimated_delivery_date": ["2018-01-06 00:00:00"] * 3,
            "price": [90.0, 10.0, 50.0],
            "freight_value": [10.0, 0.0, 50.0],
            "customer_state": ["SP", "SP", "RJ"],
            "seller_state": ["SP", "MG", None],
        }
    )
    out = OrderFeatures(numeric=[], derived=ALL_DERIVED, categorical=[]).fit(rows).transform(rows)
    assert out.loc[0, "delivery_days"] == 10 and np.isnan(out.loc[2, "delivery_days"])
    assert out.loc[0, "delivery_delay_days"] == 5 and out.loc[0, "is_late"] == 1
    assert out.loc[2, "is_undelivered"] == 1 and out.loc[0, "is_undelivered"] == 0
    assert out.loc[0, "approval_lag_hours"] == 12 and out.loc[0, "carrier_lag_days"] == 2
    assert list(out["items_per_order"]) == [2, 2, 1] and list(out["sellers_per_order"]) == [2, 2, 1]
    assert out.loc[0, "freight_ratio"] == pytest.approx(0.1) and out.loc[2, "freight_ratio"] == pytest.approx(0.5)
    assert out.loc[0, "seller_in_customer_state"] == 1 and out.loc[1, "seller_in_customer_state"] == 0
    assert np.isnan(out.loc[2, "seller_in_customer_state"]) and out.loc[0, "purchase_weekday"] == 0  # a Monday


def test_no_feature_reads_a_review_column(orders):
    """Leakage guard: no derived feature declares a review input, and perturbing every review column
    (and the target) leaves every feature of every configured set unchanged."""
    for name, feature in DERIVED.items():
        assert not set(feature.inputs) & TARGET_AND_LEAKY_COLUMNS, name
    orders = orders.assign(seller_state="SP")  # a Kaggle-only column some features read
    transformer = OrderFeatures(
        numeric=["price", "payment_value"], derived=ALL_DERIVED, categorical=["payment_type", "customer_state"]
    ).fit(orders)
    before = transformer.transform(orders)
    shuffled = orders.copy()
    rng = np.random.default_rng(0)
    for column in TARGET_AND_LEAKY_COLUMNS:
        shuffled[column] = rng.permutation(shuffled[column].to_numpy())
    shuffled["review_answer_timestamp"] = "2030-01-01 00:00:00"
    pd.testing.assert_frame_equal(before, transformer.transform(shuffled))


def test_feature_spec_rejects_leaky_columns():
    from olist_pipeline.config.compose import compose_config, compose_spec
    from olist_pipeline.errors import ConfigError

    for column, role in (("review_score", "the dataset's target"), ("review_answer_timestamp", "declared never_features")):
        with pytest.raises(ConfigError, match=f"features.seed: '{column}' is {role} .*leak"):
            compose_spec(compose_config(["features=seed", f"features.numeric=[price,{column}]"]))
    # a binary task's label column is never a feature either
    with pytest.raises(ConfigError, match=r"'sex' is the binary task's label"):
        compose_spec(compose_config(["dataset=penguins", "features=penguins", "task=binary", "features.categorical=[sex]"]))


def test_preprocessor_handles_missing_and_unseen_categories(orders):
    pre = build_preprocessor(["price", "product_photos_qty"], ["delivery_days"], ["payment_type"])
    X = orders[input_columns(["price", "product_photos_qty"], ["delivery_days"], ["payment_type"])]
    out = pre.fit_transform(X)
    assert not np.isnan(np.asarray(out, dtype=float)).any()
    unseen = X.head(3).copy()
    unseen["payment_type"] = "pix"
    assert pre.transform(unseen).shape[0] == 3


# --- splits -----------------------------------------------------------------------------------------
def test_grouped_split_keeps_orders_whole(orders):
    labels = partition(orders, "grouped", test_size=0.25, validation_size=0.2, seed=1)
    sides = orders.groupby("order_id", observed=True).apply(lambda g: labels.loc[g.index].nunique(), include_groups=False)
    assert (sides == 1).all()
    shares = labels.value_counts(normalize=True)
    assert 0.2 < shares["test"] < 0.3 and 0.1 < shares["validation"] < 0.2
    pd.testing.assert_series_equal(labels, partition(orders, "grouped", test_size=0.25, validation_size=0.2, seed=1))


def test_grouped_split_is_scikit_learns_split_of_the_order_ids(orders):
    """Grouping by integer codes is an optimisation: the same rows land on each side as when
    GroupShuffleSplit groups the order ids themselves (so metrics are unchanged for the same seed)."""
    from sklearn.model_selection import GroupShuffleSplit

    labels = partition(orders, "grouped", test_size=0.25, seed=5)
    splitter = GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=5)
    _, test_idx = next(splitter.split(np.zeros(len(orders)), groups=orders["order_id"].to_numpy()))
    assert set(np.flatnonzero((labels == "test").to_numpy())) == set(test_idx)


def test_random_split_leaks_orders(orders):
    labels = partition(orders, "random", test_size=0.5, seed=1)
    sides = orders.groupby("order_id").apply(lambda g: labels.loc[g.index].nunique(), include_groups=False)
    assert (sides > 1).any(), "random row split puts some orders on both sides"


def test_validation_is_carved_from_train_not_test(orders):
    without = partition(orders, "grouped", test_size=0.2, seed=3)
    with_val = partition(orders, "grouped", test_size=0.2, validation_size=0.3, seed=3)
    assert ((without == "test") == (with_val == "test")).all()


# --- models and metrics -----------------------------------------------------------------------------
def test_build_estimator_validates_early():
    assert build_estimator("sklearn.linear_model.Ridge", {"alpha": 3.0}).alpha == 3.0
    with pytest.raises(ValueError, match="unknown parameter.*alpah.*valid"):
        build_estimator("sklearn.linear_model.Ridge", {"alpah": 3})
    with pytest.raises(ValueError, match="'alpha' parameter of Ridge"):
        build_estimator("sklearn.linear_model.Ridge", {"alpha": -1})
    with pytest.raises(ValueError, match="LogisticRegression is a classifier; task regression needs a regressor"):
        build_estimator("sklearn.linear_model.LogisticRegression", {})
    with pytest.raises(ValueError, match="cannot import"):
        build_estimator("sklearn.linear_model.Nope", {})


def test_model_predicts_from_raw_rows(orders):
    numeric, derived, categorical = ["price"], ["delivery_delay_days", "is_undelivered"], ["payment_type"]
    model = build_model(build_preprocessor(numeric, derived, categorical), build_estimator("sklearn.linear_model.Ridge", {}))
    model.fit(orders, orders["review_score"])
    predictions = model.predict(orders.head(10))
    assert predictions.shape == (10,) and np.isfinite(predictions).all()


def test_metrics_true_names():
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0]))
    assert m == pytest.approx({"mse": 1.0, "rmse": 1.0, "mae": 0.5, "r2": 0.2})
    assert list(regression_metrics(np.ones(3), np.ones(3), ["rmse"])) == ["rmse"]


def test_temporal_split_tests_on_the_latest_orders(orders):
    labels = partition(orders, "temporal", test_size=0.2, validation_size=0.25)
    times = pd.to_datetime(orders["order_purchase_timestamp"])
    assert times[labels == "train"].max() < times[labels == "validation"].min()
    assert times[labels == "validation"].max() < times[labels == "test"].min()
    assert 0.15 < (labels == "test").mean() < 0.25
    sides = orders.groupby("order_id").apply(lambda g: labels.loc[g.index].nunique(), include_groups=False)
    assert (sides == 1).all()


def test_temporal_split_with_cutoff_and_errors(orders):
    labels = partition(orders, "temporal", test_size=0.2, cutoff="2018-01-01")
    times = pd.to_datetime(orders["order_purchase_timestamp"])
    assert ((labels == "test") == (times >= "2018-01-01")).all()
    with pytest.raises(ValueError, match="one side empty"):
        partition(orders, "temporal", test_size=0.2, cutoff="2030-01-01")


def test_feature_set_needing_kaggle_columns_names_them(orders):
    from olist_pipeline.errors import DataError
    from olist_pipeline.domain.features import select_inputs

    with pytest.raises(DataError, match=r"feature set 'kaggle' needs column\(s\) \['seller_state'\]"):
        select_inputs(orders, ["order_id", "seller_state"], "kaggle")


def test_predictions_frame_has_one_row_per_input_row_and_the_version():
    from olist_pipeline.domain.data.synthetic import generate_merged
    from olist_pipeline.domain.features import build_preprocessor
    from olist_pipeline.domain.inference import PREDICTION_COLUMN, predictions_frame
    from olist_pipeline.domain.models import build_estimator, build_model

    train = generate_merged(200, seed=1)
    model = build_model(
        build_preprocessor(["price"], ["delivery_days"], [], impute="median"),
        build_estimator("sklearn.linear_model.Ridge", {}),
    ).fit(train[input_columns(["price"], ["delivery_days"], [])], train["review_score"])
    new = generate_merged(50, seed=2).drop(columns=["review_score"])
    out = predictions_frame(model, new, "m", 7, "3")
    assert len(out) == len(new)
    assert list(out.columns) == ["order_id", "order_item_id", PREDICTION_COLUMN, "model_name", "model_version", "registry_version"]
    assert (out["model_version"] == 7).all() and (out["order_id"].to_numpy() == new["order_id"].to_numpy()).all()
    with pytest.raises(DataError, match=r"lacks column\(s\) \['price'\].*m v7"):
        predictions_frame(model, new.drop(columns=["price"]), "m", 7, "3")


def test_per_order_counts_without_groupby_match_the_groupby(orders):
    """One row per order (a one-row request) takes a fast path; it must count as the groupby does."""
    from olist_pipeline.domain.features import _per_order

    one_per_order = orders.drop_duplicates("order_id").copy()
    one_per_order.loc[one_per_order.index[:5], "seller_id"] = None  # nunique counts no missing value
    for column in ("order_item_id", "seller_id", "payment_sequential"):
        expected = one_per_order.groupby("order_id", sort=False)[column].transform("nunique").astype(float)
        pd.testing.assert_series_equal(_per_order(one_per_order, column), expected, check_names=False)
