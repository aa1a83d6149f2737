"""The plain script a user would write without any framework: same data, cleaning, features, split,
model and metrics as `python -m olist_pipeline`, but no Hydra, ZenML or MLflow. The benchmark's
yardstick for framework overhead.

    python scripts/plain_baseline.py --data data/olist_sample.csv.gz [--timings phases.json]

`--timings` writes the seconds of each phase, named after the pipeline step doing the same work, so
`scripts/bench.py` can split each step's time into its own work and the framework's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import yaml

from olist_pipeline.domain.cleaning import clean
from olist_pipeline.domain.data.olist import validate_merged
from olist_pipeline.domain.features import build_preprocessor, input_columns
from olist_pipeline.domain.metrics import regression_metrics
from olist_pipeline.domain.models import build_estimator, build_model
from olist_pipeline.paths import PROJECT_ROOT
from olist_pipeline.domain.splits import TEST, TRAIN, partition

SEED = 42


def _yaml(path: str) -> dict:
    """Read one of the project's config files as plain YAML (no composition, no interpolation)."""
    return yaml.safe_load((PROJECT_ROOT / path).read_text())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="data/olist_sample.csv.gz")
    parser.add_argument("--timings", help="write each phase's seconds (keyed by pipeline step) to this JSON file")
    args = parser.parse_args()
    seconds: dict[str, float] = {}

    @contextmanager
    def phase(step: str):
        started = time.perf_counter()
        yield
        seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - started

    features = _yaml("conf/features/delivery.yaml")
    model_conf = _yaml("conf/model/hist_gradient_boosting.yaml")
    params = {k: (SEED if v == "${seed}" else v) for k, v in model_conf.items() if k not in ("name", "_target_")}
    numeric, derived, categorical = features["numeric"], features["derived"], features["categorical"]

    with phase("ingest"):  # the pipeline's ingest step reads and checks
        df = pd.read_csv(Path(args.data), low_memory=False)
        df, _ = validate_merged(df)
    columns = list(dict.fromkeys(["order_id", *input_columns(numeric, derived, categorical)]))  # the group column, for the split and weights
    with phase("clean"):
        df, _ = clean(df, "impute_median", columns, "review_score")
    with phase("build_features"):
        X, y = df[columns], df["review_score"].astype(float)
    with phase("split"):
        labels = partition(X, "grouped", test_size=0.2, seed=SEED)
    with phase("train"):
        model = build_model(
            build_preprocessor(numeric, derived, categorical),
            build_estimator(model_conf["_target_"], params),
        )
        model.fit(X[labels == TRAIN], y[labels == TRAIN])
    with phase("evaluate"):
        metrics = regression_metrics(y[labels == TEST].to_numpy(), model.predict(X[labels == TEST]))
    print(json.dumps(metrics))
    if args.timings:
        Path(args.timings).write_text(json.dumps(seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
