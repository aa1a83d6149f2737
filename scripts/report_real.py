"""`make report-real`: models x feature sets x splits on the real merged Olist table, and 5-fold
cross-validation grouped by order of the prod configurations of both tasks, as markdown tables written
into README.md (between the report-real and report-cv markers) and printed.

Each cell is composed with the same Hydra config as `python -m olist_pipeline model=... features=...
split=...` and runs the same pure modules as the pipeline (validation, cleaning, features, split,
model, test metrics), without ZenML/MLflow: the point is the numbers, and why the split matters.

    python scripts/report_real.py [--data ../shared/data/olist/merged/olist_customers_dataset.csv.gz] [--cv-only]
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
from pathlib import Path

import pandas as pd

from olist_pipeline.domain.cleaning import clean
from olist_pipeline.config.compose import compose_spec
from olist_pipeline.config.compose import compose_config
from olist_pipeline.domain.data.io import load_table
from olist_pipeline.domain.data.olist import validate_merged
from olist_pipeline.domain.features import build_preprocessor, input_columns
from olist_pipeline.domain.metrics import regression_metrics
from olist_pipeline.domain.models import build_estimator, build_model
from olist_pipeline.paths import PROJECT_ROOT
from olist_pipeline.domain.splits import TEST, TRAIN, partition

MODELS = ["linear_regression", "ridge", "random_forest", "hist_gradient_boosting", "hist_gradient_boosting_per_order"]
FEATURES = ["seed", "delivery"]
SPLITS = ["random", "grouped", "temporal"]
START, END = "<!-- report-real:start -->", "<!-- report-real:end -->"
CV_START, CV_END = "<!-- report-cv:start -->", "<!-- report-cv:end -->"
#: (what, task, overrides): the prod configurations the CV reports, for both tasks.
CV_CELLS = [
    ("regression, features=delivery", "regression", ["+env=prod", "features=delivery"]),
    ("regression, features=delivery_history (prod)", "regression", ["+env=prod"]),
    ("low_review: classifier, features=delivery_history (prod)", "binary",
     ["+env=prod", "task=binary", "model=hist_gradient_boosting_per_order_classifier"]),
    ("low_review: ranked by the regression's prediction (prod regression)", "rank", ["+env=prod"]),
]


def cell(df: pd.DataFrame, model: str, features: str, split: str) -> dict[str, object]:
    """Train and score one configuration, exactly as composed by Hydra."""
    spec, _, _ = compose_spec(compose_config([f"model={model}", f"features={features}", f"split={split}"]))
    f = spec.features
    columns = list(dict.fromkeys(["order_id", *input_columns(f.numeric, f.derived, f.categorical)]))  # the group column too
    data, _ = clean(df, spec.cleaning.strategy, columns, spec.dataset.target, spec.cleaning.drop_duplicate_rows)
    labels = partition(
        data, spec.split.strategy, spec.split.test_size, spec.split.validation_size, spec.split.group_column,
        spec.split.seed, spec.split.time_column, spec.split.cutoff,
    )
    X, y = data[columns], data[spec.dataset.target].astype(float)
    estimator = build_model(build_preprocessor(f.numeric, f.derived, f.categorical), build_estimator(spec.model.target, spec.model.params))
    start = time.perf_counter()
    estimator.fit(X[labels == TRAIN], y[labels == TRAIN])
    fit_seconds = time.perf_counter() - start
    metrics = regression_metrics(y[labels == TEST].to_numpy(), estimator.predict(X[labels == TEST]))
    return {"model": model, "features": features, "split": split, **metrics, "fit_s": fit_seconds}


def cv_cell(df: pd.DataFrame, what: str, kind: str, overrides: list[str]) -> dict[str, object]:
    """5-fold CV grouped by order of one configuration, composed as the CLI would: mean and spread
    over folds, per row and per order. `rank`: the regression's prediction ranks the binary label."""
    from olist_pipeline.domain import cv
    from olist_pipeline.domain.features import fit_columns
    from olist_pipeline.domain.tasks import BINARY, REGRESSION

    spec, _, _ = compose_spec(compose_config(overrides))
    f, task = spec.features, spec.task
    columns = input_columns(f.numeric, f.derived, f.categorical, f.datetime_parts, f.fitted)
    data, _ = clean(df, spec.cleaning.strategy, columns, spec.dataset.target, spec.cleaning.drop_duplicate_rows)
    X = data[list(dict.fromkeys(["order_id", *columns, *fit_columns(f.fitted)]))]
    low = spec.evaluation.low_score_max
    model_kind = BINARY if kind == "binary" else REGRESSION

    def make_model():  # noqa: ANN202
        pre = build_preprocessor(f.numeric, f.derived, f.categorical, datetime_parts=f.datetime_parts, fitted=f.fitted)
        return build_model(pre, build_estimator(spec.model.target, spec.model.params, model_kind), model_kind, "order_id")

    groups = data["order_id"].to_numpy()
    start = time.perf_counter()
    if kind == "binary":
        y = (data[spec.dataset.target] <= low).astype(int).to_numpy()
        result = cv.grouped_cv(make_model, X, y, groups, predict=lambda m, rows: m.predict_proba(rows)[:, 1],
                               score=cv.classification_scores)  # fmt: skip
    elif kind == "rank":
        y = data[spec.dataset.target].astype(float).to_numpy()
        out_of_fold = cv.grouped_cv(make_model, X, y, groups)
        labels = (y <= low).astype(int)
        result = cv.score_folds(labels, -out_of_fold.predictions, groups, out_of_fold.fold, cv.classification_scores)
    else:
        result = cv.grouped_cv(make_model, X, data[spec.dataset.target].astype(float).to_numpy(), groups)
    return {"what": what, "model": spec.model.name, "features": f.name, "cv": result, "seconds": time.perf_counter() - start}


def cv_markdown(cells: list[dict[str, object]], source: str, n_rows: int, n_orders: int) -> str:
    lines = [
        f"5-fold cross-validation grouped by order (no order in two folds; folds shuffled with seed 42) on the "
        f"real merged table (`{source}`, {n_rows:,} rows, {n_orders:,} orders): mean ± standard deviation over "
        "the folds; per row, and per order (each order's mean prediction against its target; an order is "
        "low_review when any of its rows is).",
        "",
        "| configuration | model | R² per row | R² per order | ROC AUC per row | PR AUC per row | ROC AUC per order | PR AUC per order | time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        summary = c["cv"].summary()  # type: ignore[attr-defined]
        get = lambda k: summary.get(k, "")  # noqa: E731
        lines.append(
            f"| {c['what']} | {c['model']} | {get('r2')} | {get('r2_per_order')} | {get('roc_auc')} | {get('pr_auc')} "
            f"| {get('roc_auc_per_order')} | {get('pr_auc_per_order')} | {c['seconds']:.0f} |"
        )
    return "\n".join(lines)


def _write_between(readme: Path, start: str, end: str, table: str) -> None:
    text = readme.read_text()
    if start in text and end in text:
        readme.write_text(re.sub(f"{start}.*?{end}", lambda _: f"{start}\n{table}\n{end}", text, flags=re.S))


def markdown(rows: list[dict[str, object]], source: str, n_rows: int) -> str:
    lines = [
        f"Real merged table (`{source}`, {n_rows:,} rows), test split only; `+env` not applied. "
        "`random` leaks rows of one order into both sides and flatters every model; `grouped` and "
        "`temporal` are the honest ones.",
        "",
        "| model | features | split | RMSE | MAE | R² | fit (s) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['features']} | {r['split']} | {r['rmse']:.3f} | {r['mae']:.3f} | {r['r2']:.3f} | {r['fit_s']:.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(PROJECT_ROOT.parent / "shared/data/olist/merged/olist_customers_dataset.csv.gz"))
    parser.add_argument("--readme", default=str(PROJECT_ROOT / "README.md"))
    parser.add_argument("--cv-only", action="store_true", help="only the cross-validation table")
    args = parser.parse_args()
    path = Path(args.data)
    if not path.exists():
        print(f"real data not found at {path}: pass --data /path/to/olist_customers_dataset.csv(.gz)", file=sys.stderr)
        return 2
    df, _ = load_table(path)
    df, _ = validate_merged(df, source=str(path))
    readme = Path(args.readme)
    cells = []
    for what, kind, overrides in CV_CELLS:
        cells.append(cv_cell(df, what, kind, overrides))
        print(f"cv {what}: {cells[-1]['cv'].summary()}", file=sys.stderr)
    cv_table = cv_markdown(cells, path.name, len(df), df["order_id"].nunique())
    _write_between(readme, CV_START, CV_END, cv_table)
    print(cv_table)
    if args.cv_only:
        return 0
    rows = []
    for split, features, model in itertools.product(SPLITS, FEATURES, MODELS):
        rows.append(cell(df, model, features, split))
        print(f"{split:9s} {features:9s} {model:24s} r2={rows[-1]['r2']:.3f}", file=sys.stderr)
    table = markdown(rows, path.name, len(df))
    _write_between(readme, START, END, table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
