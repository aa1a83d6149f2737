"""`python -m olist_pipeline`: Hydra composes the config, we validate it into a `RunSpec` and run it.

Fast paths (`--help`, `--cfg job`, config errors) never import ZenML or MLflow.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from olist_pipeline import speed
from olist_pipeline.app.console import fail
from olist_pipeline.errors import ConfigError, OlistError, ReproductionError
from olist_pipeline.config.compose import compose_spec
from olist_pipeline.config.spec import RunSpec
from olist_pipeline.paths import CONF_DIR

def _overrides() -> list[str]:
    """The command-line overrides of this Hydra job (recorded so lineage can print a reproduce command)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def dispatch(spec: RunSpec, config_yaml: str, params: dict[str, str]) -> float | None:
    """Run the job `pipeline.name` names and print its summary. Returns the training metric, if any."""
    from olist_pipeline.app import summary

    name = spec.pipeline.name
    if name not in ("training", "cd"):
        speed.settle_gc()  # only a training run holds the collector until its stack is set up
    if name == "undeploy":
        from olist_pipeline.runs.deploy import run_undeploy

        summary.print_undeploy(run_undeploy(spec), spec.tracking.model_name)
        return None
    if name == "deploy":
        from olist_pipeline.runs.deploy import run_deploy

        summary.print_deployment(run_deploy(spec))
        return None
    if name == "inference":
        from olist_pipeline.runs.inference import run_inference

        summary.print_inference(run_inference(spec))
        return None
    if name == "lineage":
        from olist_pipeline.runs.lineage import run_lineage

        summary.print_lineage(run_lineage(spec))
        return None
    if name == "reproduce":
        from olist_pipeline.runs.reproduce import run_reproduce

        reproduction = run_reproduce(spec, say=summary.say)
        summary.print_reproduction(reproduction)
        if not reproduction.verdict.reproduced:
            raise ReproductionError(f"{reproduction.label} was not reproduced: {reproduction.verdict.summary.removeprefix('no: ')}")
        return None
    if name == "compare":
        from olist_pipeline.runs.compare import run_compare

        summary.print_comparison(run_compare(spec))
        return None
    from olist_pipeline.runs.training import run_training

    result = run_training(spec, config_yaml, params, _overrides())
    summary.print_summary(result, spec)
    if name == "cd":
        from olist_pipeline.runs.deploy import run_deploy, served

        if result.promoted:
            summary.print_deployment(run_deploy(spec.model_copy(update={"model_version": str(result.model_version)})))
        else:
            summary.print_cd_kept(served(spec), spec.tracking.model_name)
    return result.metrics.get(spec.evaluation.primary_metric)


def _sweep_job() -> tuple[Path, int, list[str]] | None:
    """(sweep dir, job number, overrides) when this is a job of a multirun, else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.sweep.dir), int(hydra_cfg.job.num), list(hydra_cfg.overrides.task)


def run_sweep_job(spec: RunSpec, config_yaml: str, params: dict[str, str], job: tuple[Path, int, list[str]]) -> float:
    """One job of a sweep: a training run as a child of the sweep's MLflow parent run, its row recorded."""
    from olist_pipeline.app import summary, sweep
    from olist_pipeline.runs.training import run_training

    sweep_dir, number, overrides = job
    if spec.pipeline.name != "training":
        raise ConfigError(f"sweeps run the training pipeline, not pipeline={spec.pipeline.name}")
    from olist_pipeline.runs.training import run_identity

    key = run_identity(spec, config_yaml)
    metric = spec.evaluation.primary_metric
    done = sweep.completed_job(sweep_dir, key, lambda row: _runs_still_there(spec, row))
    if done is not None:  # a resumed sweep: this job completed in an earlier attempt
        summary.say(f"job #{number} resumed: completed earlier in this sweep (MLflow run {done.get('mlflow_run')}); not run again")
        sweep.append_job(sweep_dir, {**done, "job": number, "overrides": " ".join(overrides), "status": "resumed"})
        value = done.get(metric)
        return float("nan") if value is None else float(value)
    if "mlflow" in sys.modules:  # launcher workers are reused: close any run a previous job left open
        import mlflow

        while mlflow.active_run():
            mlflow.end_run()
    parent = sweep.read_sweep(sweep_dir).get("parent_run_id")
    tags = {"sweep_job": str(number), "sweep_overrides": " ".join(overrides)}
    tags.update({f"override.{o.split('=', 1)[0].lstrip('+~')}": o.split("=", 1)[-1] for o in overrides})
    if parent:
        tags["mlflow.parentRunId"] = parent
    # No reuse: every job of a sweep is recorded as a child of this sweep's MLflow parent run.
    result = run_training(spec, config_yaml, params, overrides, extra_tags=tags, allow_reuse=False)
    summary.print_summary(result, spec)
    m = result.metrics
    sweep.append_job(sweep_dir, {
        "job": number, "overrides": " ".join(overrides),
        "status": "cached" if "train" in result.cached_steps else "completed",
        "rmse": m.get("rmse"), "mae": m.get("mae"), "r2": m.get("r2"), "fit_s": result.fit_seconds,
        "mlflow_run": result.mlflow_run_id, "zenml_run": result.zenml_run_id,
        spec.evaluation.primary_metric: m.get(spec.evaluation.primary_metric), "run_key": key,
    })  # fmt: skip
    return float(m.get(spec.evaluation.primary_metric, float("nan")))


def _runs_still_there(spec: RunSpec, row: dict[str, Any]) -> bool | None:
    """Are a recorded job's ZenML and MLflow runs still in the stores? None: cannot tell (a server)."""
    from olist_pipeline.stack.store_reads import runs_exist

    if not (row.get("zenml_run") and row.get("mlflow_run")):
        return False
    return runs_exist(str(row["zenml_run"]), str(row["mlflow_run"]), spec.stack.zenml_config_path, spec.stack.mlflow_tracking_uri)


def run(cfg: DictConfig) -> float | None:
    """The Hydra task: returns the primary metric of a training run (what a sweeper optimises).

    In a sweep, a job that fails prints its one-line error, is recorded as failed and returns NaN, so
    the other jobs still run; the sweep's summary marks it and the sweep exits non-zero.
    """
    job = _sweep_job()
    try:
        if job is not None:
            return run_sweep_job(*compose_spec(cfg), job)
        return dispatch(*compose_spec(cfg))
    except OlistError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        fail(str(exc))
        if job is None:
            sys.exit(1)
        from olist_pipeline.app import sweep

        sweep.append_job(job[0], {"job": job[1], "overrides": " ".join(job[2]), "status": "failed", "error": str(exc)})
        return float("nan")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_entry(cfg: DictConfig) -> float | None:
    return run(cfg)


def main() -> None:
    """Console entry point."""
    _hydra_entry()
