"""The per-order training grain (`PerOrderRegressor` + `OrderWeightedPipeline`) and the prod model on
the real merged table."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from olist_pipeline.domain.data.olist import validate_merged
from olist_pipeline.domain.data.synthetic import generate_merged
from olist_pipeline.domain.features import build_preprocessor, fit_columns, input_columns
from olist_pipeline.domain.models import OrderWeightedPipeline, PerOrderRegressor, build_estimator, build_model, order_weights

from tests.conftest import load_script, real_file

NUMERIC, DERIVED, CATEGORICAL = ["price", "freight_value"], ["delivery_delay_days", "is_undelivered", "items_per_order"], ["payment_type"]
RIDGE = "sklearn.linear_model.Ridge"


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return validate_merged(generate_merged(800, seed=5))[0]


def _per_order_model(params=None):
    return build_model(build_preprocessor(NUMERIC, DERIVED, CATEGORICAL), build_estimator(
        "olist_pipeline.domain.models.PerOrderRegressor", {"regressor": RIDGE, "params": params or {"alpha": 1.0}}))


def test_order_weights_make_every_order_count_once():
    ids = pd.Series(["a", "a", "a", "b", "c", "c"])
    w = order_weights(ids)
    assert w == pytest.approx([1 / 3] * 3 + [1.0] + [0.5] * 2)
    assert pd.Series(w).groupby(ids).sum().tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_per_order_model_is_a_weighted_fit(orders):
    """Same coefficients as the inner regressor fitted on the preprocessed rows with weight 1/rows of the
    order; different from the unweighted fit (the sample has multi-row orders)."""
    X, y = orders[input_columns(NUMERIC, DERIVED, CATEGORICAL)], orders["review_score"].astype(float)
    assert orders["order_id"].duplicated().any()
    model = _per_order_model().fit(X, y)
    assert isinstance(model, OrderWeightedPipeline) and isinstance(model[-1], PerOrderRegressor)
    pre = build_preprocessor(NUMERIC, DERIVED, CATEGORICAL).fit(X)
    weighted = Ridge(alpha=1.0).fit(pre.transform(X), y, sample_weight=order_weights(X["order_id"]))
    np.testing.assert_allclose(model[-1].regressor_.coef_, weighted.coef_)
    plain = Ridge(alpha=1.0).fit(pre.transform(X), y)
    assert not np.allclose(plain.coef_, weighted.coef_)


def test_other_models_keep_the_plain_pipeline():
    model = build_model(build_preprocessor(NUMERIC, DERIVED, CATEGORICAL), build_estimator(RIDGE, {}))
    assert type(model) is Pipeline


def test_per_order_regressor_validates_its_inner_regressor_early():
    with pytest.raises(ValueError, match="unknown parameter.*alpah"):
        build_estimator("olist_pipeline.domain.models.PerOrderRegressor", {"regressor": RIDGE, "params": {"alpah": 1}})
    with pytest.raises(ValueError, match="'alpha' parameter of Ridge"):
        build_estimator("olist_pipeline.domain.models.PerOrderRegressor", {"regressor": RIDGE, "params": {"alpha": -1}})
    with pytest.raises(ValueError, match="cannot import"):
        build_estimator("olist_pipeline.domain.models.PerOrderRegressor", {"regressor": "sklearn.nope.Nope"})


def test_per_order_model_predicts_one_value_per_raw_row(orders):
    X, y = orders[input_columns(NUMERIC, DERIVED, CATEGORICAL)], orders["review_score"].astype(float)
    model = _per_order_model().fit(X.iloc[:600], y.iloc[:600])
    predictions = model.predict(X.iloc[600:])
    assert predictions.shape == (len(X) - 600,) and np.isfinite(predictions).all()


def test_prod_config_selects_the_per_order_model():
    from olist_pipeline.config.compose import compose_spec
    from olist_pipeline.config.compose import compose_config

    spec, _, _ = compose_spec(compose_config(["+env=prod"]))
    assert spec.model.target == "olist_pipeline.domain.models.PerOrderRegressor" and spec.features.name == "delivery_history"
    assert spec.features.fitted == ["seller_history"]
    assert spec.split.strategy == "grouped"
    estimator = build_estimator(spec.model.target, spec.model.params)
    assert estimator.params["random_state"] == spec.seed


@pytest.mark.slow
@pytest.mark.real_data
def test_prod_model_on_the_real_merged_table():
    """The prod model and features, trained on the grouped split's training rows of the real merged
    table and scored on its test rows (row grain), as `make report-real` does. Issue 3 asks for
    R² >= 0.30; this model reaches 0.203 (see README "Results on the real data"), so the test guards
    the gain over the previous prod model (0.174) rather than the unmet target."""
    from olist_pipeline.domain.cleaning import clean
    from olist_pipeline.config.compose import compose_spec
    from olist_pipeline.config.compose import compose_config
    from olist_pipeline.domain.data.io import load_table
    from olist_pipeline.domain.metrics import regression_metrics
    from olist_pipeline.domain.splits import TEST, TRAIN, partition

    path = real_file("merged", "olist_customers_dataset.csv.gz")
    spec, _, _ = compose_spec(compose_config(["+env=prod"]))
    df, _ = validate_merged(load_table(path)[0], source=str(path))
    f = spec.features
    columns = input_columns(f.numeric, f.derived, f.categorical, fitted=f.fitted)
    data, _ = clean(df, spec.cleaning.strategy, columns, spec.dataset.target, spec.cleaning.drop_duplicate_rows)
    labels = partition(data, spec.split.strategy, spec.split.test_size, spec.split.validation_size, spec.split.group_column, spec.split.seed)
    X = data[list(dict.fromkeys(["order_id", *columns, *fit_columns(f.fitted)]))]  # the group and fit-only columns too
    y = data[spec.dataset.target].astype(float)
    pre = build_preprocessor(f.numeric, f.derived, f.categorical, fitted=f.fitted)
    model = build_model(pre, build_estimator(spec.model.target, spec.model.params))
    model.fit(X[labels == TRAIN], y[labels == TRAIN])
    metrics = regression_metrics(y[labels == TEST].to_numpy(), model.predict(X[labels == TEST]))
    assert metrics["r2"] >= 0.195, metrics


@pytest.mark.slow
@pytest.mark.real_data
def test_prod_configurations_under_grouped_cross_validation():
    """`make report-real`'s 5-fold CV grouped by order of the prod regression and the prod low_review
    classifier, as composed by Hydra. Guards the measured figures (README "Results on the real data":
    R² 0.245, ROC AUC 0.783) with a margin below them; the issue's targets (R² 0.248, PR AUC 0.53) are
    not reached on this table."""
    from olist_pipeline.domain.data.io import load_table

    report_real = load_script("report_real")
    path = real_file("merged", "olist_customers_dataset.csv.gz")
    df, _ = validate_merged(load_table(path)[0], source=str(path))
    regression = report_real.cv_cell(df, "regression", "regression", ["+env=prod"])["cv"]
    assert regression.mean["r2"] >= 0.235 and regression.mean["r2_per_order"] >= 0.24, regression.summary()
    assert len(regression.folds) == 5 and len(set(regression.fold)) == 5
    classifier = report_real.cv_cell(
        df, "classifier", "binary", ["+env=prod", "task=binary", "model=hist_gradient_boosting_per_order_classifier"]
    )["cv"]
    assert classifier.mean["roc_auc"] >= 0.77 and classifier.mean["pr_auc"] >= 0.50, classifier.summary()
