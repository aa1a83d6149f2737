"""Run a typed `RunSpec`: prepare the stack, fingerprint the data, run the ZenML pipeline, collect results.

One function per `pipeline` option: training, cd, deploy, undeploy, inference, lineage. Only this
module and below import ZenML/MLflow, and only when a run really starts, so `--help`, `--cfg job` and
config errors stay fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from olist_pipeline.stack import logs
from olist_pipeline.runs import reuse
from olist_pipeline.domain.data import loaders
from olist_pipeline.errors import DataError
from olist_pipeline.stack.infra import check_services, configure_environment, connect, ensure_mlflow_experiment, provision
from olist_pipeline.speed.resident import settle_gc
from olist_pipeline.config.spec import RunSpec
from olist_pipeline.stack.tracking import EXTRA_CONFIG_YAML, EXTRA_OVERRIDES, EXTRA_PARAMS, git_commit


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


def fingerprint_dataset(fmt: str, path: Path, expected: str | None, keep_bytes: int = 0) -> str:
    """sha256 of the input; fails early (before any pipeline work) if missing or not as pinned.
    Up to `keep_bytes` of the input stay in memory for the run's ingest step (data/io.py)."""
    digest = loaders.fingerprint(fmt, path, keep_bytes)
    if expected and digest != expected:
        raise DataError(f"{path}: sha256 {digest[:12]}… does not match dataset.sha256 {expected[:12]}…")
    return digest


def make_run_name(spec: RunSpec) -> str:
    """Readable and unique: prefix, env, model and a microsecond timestamp."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return f"{spec.tracking.run_name_prefix}-{spec.env}-{spec.model.name}-{stamp}"


def _fingerprint(spec: RunSpec) -> str:
    # The input's bytes are kept for ingest, within the in-process table hand-off's budget, when
    # ingest runs in this process.
    keep = spec.pipeline.handoff_mb << 20 if spec.stack.steps_run_here else 0
    return fingerprint_dataset(spec.dataset.format, Path(spec.dataset.path), spec.dataset.sha256, keep)


def _load_ahead(spec: RunSpec) -> None:
    """Start parsing the input in a background thread, to overlap the imports and stack set-up that
    follow, when the ingest step will run in this process and cannot come from ZenML's cache (caching
    off, or a ZenML home with nothing in it yet): there the parse is never wasted. Called before
    ZenML is imported (which writes into the home); a second call finds no kept bytes and does nothing."""
    if not spec.stack.steps_run_here or spec.stack.zenml_store is not None:
        return
    home = Path(spec.stack.zenml_config_path)
    if not spec.enable_cache or not home.exists() or not any(home.iterdir()):
        loaders.start_loading(spec.dataset.format, Path(spec.dataset.path))


def _check_inputs(spec: RunSpec, data_sha256: str | None = None) -> str:
    """Environment, services and the data fingerprint (unless given): fails fast, before ZenML is imported."""
    configure_environment(spec.stack)
    check_services(spec.stack)  # seconds, before ZenML/MLflow clients that retry for minutes
    data_sha256 = data_sha256 or _fingerprint(spec)
    _load_ahead(spec)
    return data_sha256


def _prepare(spec: RunSpec, data_sha256: str | None = None) -> tuple[str, list[str]]:
    """Inputs checked, stack provisioned, MLflow experiment created."""
    data_sha256 = _check_inputs(spec, data_sha256)
    actions = provision(spec.stack)
    ensure_mlflow_experiment(spec.stack, spec.tracking.experiment_name)
    logs.install()
    return data_sha256, actions


def run_training(
    spec: RunSpec,
    config_yaml: str,
    params: dict[str, str],
    overrides: list[str] | None = None,
    extra_tags: dict[str, str] | None = None,
    allow_reuse: bool = True,
    complete_spec: Callable[[], RunSpec] | None = None,
) -> RunResult:
    """Run the training pipeline described by `spec` (train, evaluate, gate) and return its results.

    An identical earlier run (same config, data, code and libraries; champion unchanged) is answered
    from its record without starting ZenML, unless `allow_reuse` or the spec turns that off.
    `complete_spec`: `spec` lacks the checks that import scikit-learn; this gives the fully checked
    spec, built before anything runs (an identical earlier run passed those checks).
    """
    reuse_key = data_sha256 = None
    # A server's store is not checked from here: always run.
    if allow_reuse and spec.enable_cache and spec.pipeline.reuse_identical_run and spec.stack.zenml_store is None:
        # Answered from an identical earlier run? Read-only: nothing is configured or created before.
        data_sha256 = _fingerprint(spec)
        reuse_key = reuse.run_key(config_yaml, data_sha256)
        earlier = _reusable(spec, reuse_key)
        if earlier is not None:
            return earlier
        _load_ahead(spec)  # while the checks below import scikit-learn
    if complete_spec is not None:
        spec = complete_spec()
    data_sha256, actions = _prepare(spec, data_sha256)

    from zenml import Model
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from olist_pipeline.pipelines.training import training_pipeline

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
        **(extra_tags or {}),  # e.g. a sweep's mlflow.parentRunId and the job's overrides
    }
    configured = training_pipeline.with_options(
        run_name=run_name,
        **_run_options(spec),
        tags=[f"env:{spec.env}", f"model:{spec.model.name}", f"features:{spec.features.name}"],
        # Every run creates a new version of this ZenML Model, linked to all the run's artifacts.
        model=Model(
            name=spec.tracking.model_name,
            description="Predicts an Olist order's review_score (1-5) from what is known before the review.",
            tags=[f"env:{spec.env}", f"model:{spec.model.name}"],
        ),
        settings={
            "experiment_tracker": {"experiment_name": spec.tracking.experiment_name, "tags": mlflow_tags}
        },
        extra={
            EXTRA_CONFIG_YAML: config_yaml,
            EXTRA_PARAMS: params,
            EXTRA_OVERRIDES: list(overrides or []),
            "git_commit": commit,
            "data_sha256": data_sha256,
        },
    )
    settle_gc()  # imports, stores and stack are set up: what the steps create is collected as usual
    response = configured(
        dataset=spec.dataset,
        data_sha256=data_sha256,
        cleaning=spec.cleaning,
        features=spec.features,
        split=spec.split,
        model=spec.model,
        evaluation=spec.evaluation,
        promotion=spec.promotion,
        model_name=spec.tracking.model_name,
    )
    run = Client().get_pipeline_run(response.id)
    steps = run.steps
    promotion = steps["promote"].outputs["promotion"][0].load()
    result = RunResult(
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
        promotion=promotion,
    )
    if reuse_key is not None and result.status == "completed":
        record = {k: v for k, v in asdict(result).items() if k not in ("stack_actions", "reused")}
        reuse.save(spec.paths["state_dir"], reuse_key, {**record, "production_after": result.production_after})
    return result


def _reusable(spec: RunSpec, key: str) -> RunResult | None:
    """The result of an earlier identical run whose records are all still in place, else None."""
    record = reuse.load(spec.paths["state_dir"], key)
    if record is None or not reuse.still_valid(record, spec.stack.zenml_config_path, spec.stack.mlflow_tracking_uri):
        return None
    known = {f.name for f in fields(RunResult)}
    return RunResult(**{k: v for k, v in record.items() if k in known}, reused=True)


def run_deploy(spec: RunSpec) -> dict[str, Any]:
    """Serve the production version (or `model_version`) through the `olist_deploy` pipeline."""
    configure_environment(spec.stack)
    provision(spec.stack)
    logs.install()
    from zenml import Model

    from olist_pipeline.stack import registry
    from olist_pipeline.pipelines.deploy import deploy_pipeline

    ref = registry.resolve(spec.tracking.model_name, spec.model_version, default="production")
    if ref.model_uri is None:
        raise DataError(f"model {ref.model_name} v{ref.number} has no MLflow registry version to serve")
    configured = deploy_pipeline.with_options(
        run_name=f"{spec.tracking.run_name_prefix}-deploy-{ref.model_name}-v{ref.number}-{dt.datetime.now():%Y%m%d-%H%M%S-%f}",
        model=Model(name=ref.model_name, version=ref.number),
        execution_mode=_run_options(spec)["execution_mode"],
    )
    response = configured(
        model_name=ref.model_name,
        model_version=ref.number,
        registry_version=ref.registry_version,
        model_uri=ref.model_uri,
        serving_spec=spec.serving,
    )
    from zenml.client import Client

    run = Client().get_pipeline_run(response.id)
    record = run.steps["deploy"].outputs["deployment"][0].load()
    record["zenml_run_id"] = str(run.id)
    return record


def _run_options(spec: RunSpec) -> dict[str, Any]:
    """ZenML run options every pipeline of a spec shares (and the table hand-off between its steps)."""
    from zenml.enums import ExecutionMode

    from olist_pipeline.stack.materializers import HANDOFF

    HANDOFF.max_bytes = spec.pipeline.handoff_mb << 20

    return {
        "enable_cache": spec.enable_cache,
        "enable_artifact_metadata": spec.pipeline.enable_artifact_metadata,
        "enable_artifact_visualization": spec.pipeline.enable_artifact_visualization,
        "enable_step_logs": spec.pipeline.enable_step_logs,
        # Stop at the first failing step and re-raise its own exception (not a generic RuntimeError).
        "execution_mode": ExecutionMode.FAIL_FAST,
    }


def run_undeploy(spec: RunSpec) -> Any:
    """Stop the model server of this model name (no ZenML import: a process and a state file)."""
    from olist_pipeline.stack import serving

    return serving.stop(Path(spec.serving.state_dir), spec.tracking.model_name)


def run_inference(spec: RunSpec) -> InferenceResult:
    """Score `dataset` with the production version (or `model_version`); write a CSV and a ZenML artifact."""
    data_sha256, _ = _prepare(spec)
    from zenml import Model
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from olist_pipeline.stack import registry
    from olist_pipeline.pipelines.inference import inference_pipeline

    ref = registry.resolve(spec.tracking.model_name, spec.model_version, default="production")
    run_name = f"{spec.tracking.run_name_prefix}-inference-{ref.model_name}-v{ref.number}-{dt.datetime.now():%Y%m%d-%H%M%S-%f}"
    configured = inference_pipeline.with_options(
        run_name=run_name,
        **_run_options(spec),
        model=Model(name=ref.model_name, version=ref.number),
        extra={"data_sha256": data_sha256, "git_commit": git_commit()},
    )
    response = configured(
        dataset=spec.dataset, data_sha256=data_sha256, model_name=ref.model_name, model_version=ref.number
    )
    run = Client().get_pipeline_run(response.id)
    predictions = run.steps["predict"].outputs["predictions"][0].load()
    rows_in = int(run.steps["ingest"].run_metadata.get("rows", -1))
    out_dir = Path(spec.paths["output_dir"]) / "predictions"
    out_dir.mkdir(parents=True, exist_ok=True)
    output_path = out_dir / f"{run.name}.csv"
    tmp = output_path.with_suffix(".csv.tmp")
    predictions.to_csv(tmp, index=False)
    tmp.replace(output_path)  # never a half-written predictions file under the final name
    return InferenceResult(
        run_name=run.name,
        zenml_run_id=str(run.id),
        rows_in=rows_in,
        rows_out=len(predictions),
        output_path=output_path,
        model_name=ref.model_name,
        model_version=ref.number,
        registry_version=ref.registry_version,
        cached=run.steps["predict"].status == ExecutionStatus.CACHED,
    )


def served(spec: RunSpec) -> Any:
    """The model server currently running for this model name, or None."""
    from olist_pipeline.stack import serving

    return serving.current(Path(spec.serving.state_dir), spec.tracking.model_name)


def run_lineage(spec: RunSpec) -> Any:
    """The lineage of `model_version` (default: the latest version)."""
    configure_environment(spec.stack)
    connect(spec.stack)
    logs.install()
    from olist_pipeline.stack.lineage import trace

    return trace(spec.tracking.model_name, spec.model_version)
