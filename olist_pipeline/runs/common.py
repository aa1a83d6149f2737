"""What every job shares: checking its inputs, preparing its stack, the ZenML run options."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from olist_pipeline.config.spec import RunSpec
from olist_pipeline.domain.data import loaders
from olist_pipeline.errors import ConfigError, DataError
from olist_pipeline import speed
from olist_pipeline.stack import logs
from olist_pipeline.stack.infra import check_services, configure_environment, ensure_mlflow_experiment, provision


def check_model(spec: RunSpec) -> None:
    """The configuration checks that need scikit-learn: the estimator's parameters against
    scikit-learn's own constraints, and the names of the derived features. The training job runs them
    before any work; they are not part of the spec so that `--cfg`, `--help` and an identical re-run
    (answered from the record of a run that passed them, with the same code and libraries) do not pay
    for importing scikit-learn."""
    from olist_pipeline.domain.features import DERIVED, FITTED
    from olist_pipeline.domain.models import build_estimator

    problems = []
    try:
        build_estimator(spec.model.target, spec.model.params, spec.task.kind)
    except ValueError as exc:
        problems.append(f"model={spec.model.name}: {exc} (task={spec.task.name})")
    unknown = [name for name in spec.features.derived if name not in DERIVED]
    if unknown:
        problems.append(f"features.derived: unknown derived feature(s) {unknown}; valid: {sorted(DERIVED)}")
    unknown = [name for name in spec.features.fitted if name not in FITTED]
    if unknown:
        problems.append(f"features.fitted: unknown fitted feature(s) {unknown}; valid: {sorted(FITTED)}")
    declared = spec.dataset.columns
    reads = {f"derived: {n}": DERIVED[n].inputs for n in spec.features.derived if n in DERIVED}
    reads.update({f"fitted: {n}": (*FITTED[n].request_inputs, *FITTED[n].fit_inputs) for n in spec.features.fitted if n in FITTED})
    for name, inputs in reads.items():
        lacking = [c for c in inputs if c not in declared]
        if lacking:
            problems.append(f"features.{name} reads {lacking}, not declared by dataset {spec.dataset.name!r}")
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))


def fingerprint_dataset(fmt: str, path: Path, expected: str | None, keep_bytes: int = 0) -> str:
    """sha256 of the input; fails early (before any pipeline work) if missing or not as pinned.
    Up to `keep_bytes` of the input stay in memory for the run's ingest step (speed.fingerprint_keeping)."""
    digest = speed.fingerprint_keeping(fmt, path, keep_bytes) or loaders.fingerprint(fmt, path)
    if expected and digest != expected:
        raise DataError(f"{path}: sha256 {digest[:12]}… does not match dataset.sha256 {expected[:12]}…")
    return digest


def timestamp() -> str:
    """A microsecond timestamp that keeps run names unique."""
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def fingerprint(spec: RunSpec) -> str:
    """The input's sha256. Its bytes are kept for ingest, within the in-process table hand-off's budget,
    when ingest runs in this process."""
    keep = speed.keep_input_bytes(spec.pipeline.handoff_mb << 20) if spec.stack.steps_run_here else 0
    return fingerprint_dataset(spec.dataset.format, Path(spec.dataset.path), spec.dataset.sha256, keep)


def load_ahead(spec: RunSpec) -> None:
    """Start parsing the input in a background thread, to overlap the imports and stack set-up that
    follow, when the ingest step will run in this process and cannot come from ZenML's cache (caching
    off, or a ZenML home with nothing in it yet): there the parse is never wasted. Called before
    ZenML is imported (which writes into the home); a second call finds no kept bytes and does nothing."""
    if not spec.stack.steps_run_here or spec.stack.zenml_store is not None:
        return
    home = Path(spec.stack.zenml_config_path)
    if not spec.enable_cache or not home.exists() or not any(home.iterdir()):
        speed.start_parse(spec.dataset.format, Path(spec.dataset.path))


def check_inputs(spec: RunSpec, data_sha256: str | None = None) -> str:
    """Environment, services and the data fingerprint (unless given): fails fast, before ZenML is imported."""
    configure_environment(spec.stack)
    check_services(spec.stack)  # seconds, before ZenML/MLflow clients that retry for minutes
    data_sha256 = data_sha256 or fingerprint(spec)
    load_ahead(spec)
    return data_sha256


def prepare(spec: RunSpec, data_sha256: str | None = None) -> tuple[str, list[str]]:
    """Inputs checked, stack provisioned, MLflow experiment created. Returns the data's sha256 and
    what provisioning changed."""
    data_sha256 = check_inputs(spec, data_sha256)
    actions = provision(spec.stack)
    ensure_mlflow_experiment(spec.stack, spec.tracking.experiment_name)
    logs.install()
    return data_sha256, actions


def run_options(spec: RunSpec) -> dict[str, Any]:
    """ZenML run options every pipeline of a spec shares (and the table hand-off between its steps)."""
    from zenml.enums import ExecutionMode

    from olist_pipeline.stack.materializers import HANDOFF

    HANDOFF.max_bytes = speed.handoff_bytes(spec.pipeline.handoff_mb << 20)

    return {
        "enable_cache": spec.enable_cache,
        "enable_artifact_metadata": spec.pipeline.enable_artifact_metadata,
        "enable_artifact_visualization": spec.pipeline.enable_artifact_visualization,
        "enable_step_logs": spec.pipeline.enable_step_logs,
        # Stop at the first failing step and re-raise its own exception (not a generic RuntimeError).
        "execution_mode": ExecutionMode.FAIL_FAST,
    }


def settle_gc() -> None:
    """Imports, stores and stack are set up: what the steps create is collected as usual."""
    speed.settle_gc()
