"""inference: score a table with a registered version; a predictions CSV and a ZenML artifact."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from olist_pipeline.config.spec import RunSpec
from olist_pipeline.runs.common import prepare, run_options, timestamp
from olist_pipeline.stack.tracking import git_commit

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class InferenceResult:
    """What a batch-inference run wrote."""

    run_name: str
    zenml_run_id: str
    rows_in: int
    rows_out: int
    output_path: Path
    model_name: str
    model_version: int
    registry_version: str | None
    cached: bool


def write_predictions(predictions: pd.DataFrame, path: Path) -> Path:
    """Write through a temporary file: never a half-written predictions file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    predictions.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def run_inference(spec: RunSpec) -> InferenceResult:
    """Score `dataset` with the production version (or `model_version`); write a CSV and a ZenML artifact."""
    data_sha256, _ = prepare(spec)
    from zenml import Model
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from olist_pipeline.pipelines.inference import inference_pipeline
    from olist_pipeline.stack import registry

    ref = registry.resolve(spec.tracking.model_name, spec.model_version, default="production")
    configured = inference_pipeline.with_options(
        run_name=f"{spec.tracking.run_name_prefix}-inference-{ref.model_name}-v{ref.number}-{timestamp()}",
        **run_options(spec),
        model=Model(name=ref.model_name, version=ref.number),
        extra={"data_sha256": data_sha256, "git_commit": git_commit()},
    )
    response = configured(
        dataset=spec.dataset, data_sha256=data_sha256, model_name=ref.model_name, model_version=ref.number
    )
    run = Client().get_pipeline_run(response.id)
    predictions = run.steps["predict"].outputs["predictions"][0].load()
    output_path = write_predictions(predictions, Path(spec.paths["output_dir"]) / "predictions" / f"{run.name}.csv")
    return InferenceResult(
        run_name=run.name,
        zenml_run_id=str(run.id),
        rows_in=int(run.steps["ingest"].run_metadata.get("rows", -1)),
        rows_out=len(predictions),
        output_path=output_path,
        model_name=ref.model_name,
        model_version=ref.number,
        registry_version=ref.registry_version,
        cached=run.steps["predict"].status == ExecutionStatus.CACHED,
    )
