"""What one training run produced, written to files for `pipeline=reproduce` (olist_pipeline/runs/reproduce.py).

Run as a script, never imported by the package's code:

    python -P run_export.py MODEL_NAME VERSION|latest OUT_DIR [ROWS_FILE]

with `PYTHONPATH` and the working directory at a worktree of the commit that trained the version (so
its model and tables load with that commit's code) and `ZENML_CONFIG_PATH` at the store holding it (the
version's own store, or the scratch store of its re-run). It uses ZenML's public client and the
standard library only, so it reads a run of any commit of the project.

Writes to OUT_DIR: `record.json` (metrics, flat config, run), `partition.pkl` (the split, one label per
row) and `predictions.pkl` (the model's predictions on ROWS_FILE's rows). Without ROWS_FILE it scores
the version's own test rows and writes them too, as `rows.pkl`, for the other run to score.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

TRAINING_PIPELINE = "olist_training"
TEST = "test"
#: Key of the training run's `config.extra` that holds its flat config (stack/tracking.EXTRA_PARAMS).
EXTRA_PARAMS = "olist_params"
#: (step, output) of each artifact read.
METRICS = ("evaluate", "metrics")
PARTITION = ("split", "partition")
MODEL_INPUT = ("build_features", "model_input")
MODEL = ("train", "model")


def export(model_name: str, reference: str, out_dir: Path, rows_file: Path | None) -> None:
    import pandas as pd
    from zenml.client import Client
    from zenml.utils import source_utils

    # The project's classes (materializers, estimators) load from the worktree, not this script's folder.
    source_utils.set_custom_source_root(os.getcwd())
    client = Client()
    version = client.get_model_version(model_name, None if reference == "latest" else int(reference))
    runs = client.list_pipeline_runs(model_version_id=version.id, sort_by="asc:created", size=100, hydrate=True)
    run = next((r for r in runs.items if r.pipeline is not None and r.pipeline.name == TRAINING_PIPELINE), None)
    if run is None:
        raise SystemExit(f"error: {model_name} v{version.number} has no {TRAINING_PIPELINE} run")

    def load(step: str, output: str):  # noqa: ANN202
        return run.steps[step].outputs[output][0].load()

    partition = load(*PARTITION)
    if rows_file is None:
        model_input = load(*MODEL_INPUT)
        rows = model_input.loc[(partition.astype(str) == TEST).to_numpy()]
        rows.to_pickle(out_dir / "rows.pkl")
    else:
        rows = pd.read_pickle(rows_file)
    predictions = load(*MODEL).predict(rows)
    pd.Series(predictions, index=rows.index, name="prediction").to_pickle(out_dir / "predictions.pkl")
    partition.to_pickle(out_dir / "partition.pkl")
    record = {
        "model_version": int(version.number),
        "run_name": run.name,
        "run_id": str(run.id),
        "metrics": {k: float(v) for k, v in load(*METRICS).items() if isinstance(v, (int, float))},
        "params": {str(k): str(v) for k, v in (run.config.extra.get(EXTRA_PARAMS) or {}).items()},
    }
    (out_dir / "record.json").write_text(json.dumps(record, indent=1, sort_keys=True))


if __name__ == "__main__":
    name, ref, out, *rest = sys.argv[1:]
    export(name, ref, Path(out), Path(rest[0]) if rest else None)
