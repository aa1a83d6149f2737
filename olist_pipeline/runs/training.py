"""training (and the training half of cd): train, evaluate and gate a model, or answer from the record
of an identical earlier run.

    run_training
      -> answered_from_record   identical config, data, code, libraries, champion: no new ZenML run
      -> check_model            the estimator's parameters and derived features (scikit-learn's checks)
      -> prepare                inputs, services, stack, MLflow experiment (runs.common)
      -> configure              the ZenML pipeline's options: run name, tags, Model, tracker settings, record
      -> launch                 the pipeline, with each config group as a typed step parameter
      -> collect                metrics, MLflow run, registry version, gate decision from ZenML's record
      -> remember               the result, for the next identical run
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from olist_pipeline.config.spec import RunSpec
from olist_pipeline.runs import reuse
from olist_pipeline.stack import store_reads
from olist_pipeline.runs.common import (
    check_model,
    fingerprint,
    fingerprint_dataset,
    load_ahead,
    prepare,
    run_options,
    settle_gc,
    timestamp,
)
from olist_pipeline.stack.tracking import (
    EXTRA_CONFIG_YAML,
    EXTRA_LIBRARIES,
    EXTRA_OVERRIDES,
    EXTRA_PARAMS,
    git_commit,
    library_versions,
)

#: Training steps that run every time (their outcome depends on state outside their inputs).
NEVER_CACHED = ("promote",)


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
    scored_split: str = "test"
    fit_seconds: float = float("nan")
    model_name: str = ""
    model_version: int | None = None
    registry_version: str | None = None
    promotion: dict[str, Any] = field(default_factory=dict)
    #: Answered from the record of an earlier identical run (see `reuse`): nothing ran, no new ZenML run.
    reused: bool = False

    @property
    def promoted(self) -> bool:
        return bool(self.promotion.get("promoted"))

    @property
    def production_after(self) -> int | None:
        """The ZenML version in production once this run's gate decided."""
        if self.promoted:
            return self.model_version
        return self.promotion.get("champion_before")


def make_run_name(spec: RunSpec) -> str:
    """Readable and unique: prefix, env, model and a microsecond timestamp."""
    return f"{spec.tracking.run_name_prefix}-{spec.env}-{spec.model.name}-{timestamp()}"


def run_training(
    spec: RunSpec,
    config_yaml: str,
    params: dict[str, str],
    overrides: list[str] | None = None,
    extra_tags: dict[str, str] | None = None,
    allow_reuse: bool = True,
) -> RunResult:
    """Run the training pipeline described by `spec` (train, evaluate, gate) and return its results.

    An identical earlier run (same config, data, code and libraries; champion unchanged) is answered
    from its record without starting ZenML, unless `allow_reuse` or the spec turns that off.
    `extra_tags` are added to the MLflow run (e.g. a sweep's `mlflow.parentRunId`).
    """
    reuse_key = data_sha256 = None
    if allow_reuse and reusable(spec):
        data_sha256 = fingerprint(spec)
        reuse_key = reuse.run_key(config_yaml, data_sha256)
        earlier = answered_from_record(spec, reuse_key)
        if earlier is not None:
            return earlier
        load_ahead(spec)  # parses while check_model imports scikit-learn
    check_model(spec)
    data_sha256, actions = prepare(spec, data_sha256)
    commit = git_commit()
    pipeline = configure(spec, data_sha256, commit, config_yaml, params, overrides or [], extra_tags or {})
    settle_gc()
    run = launch(spec, pipeline, data_sha256)
    result = collect(spec, run, data_sha256, commit, actions)
    if reuse_key is not None and result.status == "completed":
        remember(spec, reuse_key, result)
    return result


def run_identity(spec: RunSpec, config_yaml: str) -> str:
    """The key of `reuse.run_key` (composed config, input sha256, code and libraries), without keeping the
    input's bytes: what a resumed sweep matches a job against its earlier record with."""
    path = Path(spec.dataset.path)
    return reuse.run_key(config_yaml, fingerprint_dataset(spec.dataset.format, path, spec.dataset.sha256))


def reusable(spec: RunSpec) -> bool:
    """May this run be answered from an identical earlier one? Not with caching off, and not on a
    server's store (which is not read from here)."""
    return spec.enable_cache and spec.pipeline.reuse_identical_run and spec.stack.zenml_store is None


def answered_from_record(spec: RunSpec, key: str) -> RunResult | None:
    """The result of an earlier identical run whose records are all still in place, else None.
    Read-only: nothing is configured or created before."""
    record = reuse.load(spec.paths["state_dir"], key)
    if record is None or not store_reads.still_valid(record, spec.stack.zenml_config_path, spec.stack.mlflow_tracking_uri):
        return None
    known = {f.name for f in fields(RunResult)}
    return RunResult(**{k: v for k, v in record.items() if k in known}, reused=True)


def mlflow_tags(spec: RunSpec, data_sha256: str, commit: str) -> dict[str, str]:
    """What the MLflow run is tagged with: where its data, code and config choices came from."""
    return {
        "git_commit": commit,
        "data_sha256": data_sha256,
        "dataset": spec.dataset.name,
        "dataset_path": spec.dataset.path,
        "task": spec.task.kind,
        "target": spec.task.binary_label(spec.dataset.target).rule() if spec.task.kind == "binary" else spec.dataset.target,
        "env": spec.env,
        "model": spec.model.name,
        "features": spec.features.name,
        "split": spec.split.strategy,
        "cleaning": spec.cleaning.strategy,
        "libraries": " ".join(f"{name}=={v}" for name, v in library_versions().items()),
    }


def model_description(spec: RunSpec) -> str:
    """What the registered model predicts, in a sentence (shown by ZenML and in lineage)."""
    if spec.task.kind == "binary":
        label = spec.task.binary_label(spec.dataset.target)
        return f"Task binary on dataset {spec.dataset.name}: the probability of {label.name} ({label.rule()})."
    return f"Task regression on dataset {spec.dataset.name}: predicts {spec.dataset.target}."


def configure(
    spec: RunSpec,
    data_sha256: str,
    commit: str,
    config_yaml: str,
    params: dict[str, str],
    overrides: list[str],
    extra_tags: dict[str, str],
) -> Any:
    """The training pipeline with this run's options: name, tags, the ZenML Model it versions, the
    experiment tracker's settings, and the record (composed config, params, overrides, library versions,
    commit, data): what `pipeline=reproduce` re-runs and checks."""
    from zenml import Model

    from olist_pipeline.pipelines.training import training_pipeline

    return training_pipeline.with_options(
        run_name=make_run_name(spec),
        **run_options(spec),
        tags=[
            f"env:{spec.env}", f"model:{spec.model.name}", f"features:{spec.features.name}",
            f"dataset:{spec.dataset.name}", f"task:{spec.task.kind}",
        ],  # fmt: skip
        # Every run creates a new version of this ZenML Model, linked to all the run's artifacts.
        model=Model(
            name=spec.tracking.model_name,
            description=model_description(spec),
            tags=[f"env:{spec.env}", f"model:{spec.model.name}", f"dataset:{spec.dataset.name}", f"task:{spec.task.kind}"],
        ),
        settings={
            "experiment_tracker": {
                "experiment_name": spec.tracking.experiment_name,
                "tags": {**mlflow_tags(spec, data_sha256, commit), **extra_tags},
            }
        },
        extra={
            EXTRA_CONFIG_YAML: config_yaml,
            EXTRA_PARAMS: params,
            EXTRA_OVERRIDES: overrides,
            EXTRA_LIBRARIES: library_versions(),
            "git_commit": commit,
            "data_sha256": data_sha256,
        },
    )


def launch(spec: RunSpec, pipeline: Any, data_sha256: str) -> Any:
    """Run the configured pipeline, each config group a typed step parameter; ZenML's record of the run."""
    from zenml.client import Client

    response = pipeline(
        dataset=spec.dataset,
        task=spec.task,
        data_sha256=data_sha256,
        cleaning=spec.cleaning,
        features=spec.features,
        split=spec.split,
        model=spec.model,
        evaluation=spec.evaluation,
        promotion=spec.promotion,
        model_name=spec.tracking.model_name,
    )
    return Client().get_pipeline_run(response.id)


def collect(spec: RunSpec, run: Any, data_sha256: str, commit: str, actions: list[str]) -> RunResult:
    """The run's results, read from ZenML's record of its steps and their artifacts."""
    from zenml.enums import ExecutionStatus

    steps = run.steps
    return RunResult(
        run_name=run.name,
        zenml_run_id=str(run.id),
        status=str(run.status.value),
        metrics=steps["evaluate"].outputs["metrics"][0].load(),
        scored_split=spec.evaluation.split,
        fit_seconds=float(steps["train"].run_metadata.get("fit_seconds", float("nan"))),
        mlflow_run_id=steps["train"].outputs["mlflow_run_id"][0].load(),
        mlflow_experiment=spec.tracking.experiment_name,
        mlflow_tracking_uri=spec.stack.mlflow_tracking_uri,
        data_sha256=data_sha256,
        git_commit=commit,
        cached_steps=[n for n, s in steps.items() if s.status == ExecutionStatus.CACHED],
        executed_steps=[n for n, s in steps.items() if s.status != ExecutionStatus.CACHED],
        stack_actions=actions,
        model_name=spec.tracking.model_name,
        model_version=int(run.model_version.number) if run.model_version else None,
        registry_version=steps["train"].outputs["registry_version"][0].load(),
        promotion=steps["promote"].outputs["promotion"][0].load(),
    )


def remember(spec: RunSpec, key: str, result: RunResult) -> None:
    """Keep the result for the next identical run (`answered_from_record`)."""
    record = {k: v for k, v in asdict(result).items() if k not in ("stack_actions", "reused")}
    reuse.save(spec.paths["state_dir"], key, {**record, "production_after": result.production_after})
