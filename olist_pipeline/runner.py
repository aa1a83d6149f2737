"""Run a typed `RunSpec`: prepare the stack, fingerprint the data, run the ZenML pipeline, collect results.

Only this module and below import ZenML/MLflow, and only when a run really starts, so `--help`,
`--cfg job` and config errors stay fast.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from olist_pipeline import logs
from olist_pipeline.data import loaders
from olist_pipeline.errors import DataError
from olist_pipeline.infra import configure_environment, ensure_mlflow_experiment, provision
from olist_pipeline.spec import RunSpec
from olist_pipeline.tracking import EXTRA_CONFIG_YAML, EXTRA_PARAMS, git_commit


@dataclass
class RunResult:
    """What a finished training run produced, for the summary and for callers (sweeps, tests)."""

    run_name: str
    zenml_run_id: str
    status: str
    metrics: dict[str, float]
    mlflow_run_id: str
    mlflow_experiment: str
    mlflow_tracking_uri: str
    data_sha256: str
    git_commit: str
    cached_steps: list[str] = field(default_factory=list)
    executed_steps: list[str] = field(default_factory=list)
    stack_actions: list[str] = field(default_factory=list)


def fingerprint_dataset(fmt: str, path: Path, expected: str | None) -> str:
    """sha256 of the input; fails early (before any pipeline work) if missing or not as pinned."""
    digest = loaders.fingerprint(fmt, path)
    if expected and digest != expected:
        raise DataError(f"{path}: sha256 {digest[:12]}… does not match dataset.sha256 {expected[:12]}…")
    return digest


def make_run_name(spec: RunSpec) -> str:
    """Readable and unique: prefix, env, model and a microsecond timestamp."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return f"{spec.tracking.run_name_prefix}-{spec.env}-{spec.model.name}-{stamp}"


def run_training(spec: RunSpec, config_yaml: str, params: dict[str, str]) -> RunResult:
    """Run the training pipeline described by `spec` and return its results."""
    configure_environment(spec.stack)
    data_sha256 = fingerprint_dataset(spec.dataset.format, Path(spec.dataset.path), spec.dataset.sha256)
    actions = provision(spec.stack)
    ensure_mlflow_experiment(spec.stack, spec.tracking.experiment_name)

    from zenml.client import Client
    from zenml.enums import ExecutionMode, ExecutionStatus

    from olist_pipeline.pipelines.training import training_pipeline

    logs.install()

    commit = git_commit()
    run_name = make_run_name(spec)
    mlflow_tags = {
        "git_commit": commit,
        "data_sha256": data_sha256,
        "dataset": spec.dataset.name,
        "dataset_path": spec.dataset.path,
        "env": spec.env,
        "model": spec.model.name,
        "features": spec.features.name,
        "split": spec.split.strategy,
        "cleaning": spec.cleaning.strategy,
    }
    configured = training_pipeline.with_options(
        run_name=run_name,
        enable_cache=spec.enable_cache,
        enable_artifact_metadata=spec.pipeline.enable_artifact_metadata,
        enable_artifact_visualization=spec.pipeline.enable_artifact_visualization,
        enable_step_logs=spec.pipeline.enable_step_logs,
        # Stop at the first failing step and re-raise its own exception (not a generic RuntimeError).
        execution_mode=ExecutionMode.FAIL_FAST,
        tags=[f"env:{spec.env}", f"model:{spec.model.name}", f"features:{spec.features.name}"],
        settings={
            "experiment_tracker": {"experiment_name": spec.tracking.experiment_name, "tags": mlflow_tags}
        },
        extra={EXTRA_CONFIG_YAML: config_yaml, EXTRA_PARAMS: params, "git_commit": commit, "data_sha256": data_sha256},
    )
    response = configured(
        dataset=spec.dataset,
        data_sha256=data_sha256,
        cleaning=spec.cleaning,
        features=spec.features,
        split=spec.split,
        model=spec.model,
        evaluation=spec.evaluation,
    )
    run = Client().get_pipeline_run(response.id)
    steps = run.steps
    return RunResult(
        run_name=run.name,
        zenml_run_id=str(run.id),
        status=str(run.status.value),
        metrics=steps["evaluate"].outputs["test_metrics"][0].load(),
        mlflow_run_id=steps["train"].outputs["mlflow_run_id"][0].load(),
        mlflow_experiment=spec.tracking.experiment_name,
        mlflow_tracking_uri=spec.stack.mlflow_tracking_uri,
        data_sha256=data_sha256,
        git_commit=commit,
        cached_steps=[n for n, s in steps.items() if s.status == ExecutionStatus.CACHED],
        executed_steps=[n for n, s in steps.items() if s.status != ExecutionStatus.CACHED],
        stack_actions=actions,
    )
