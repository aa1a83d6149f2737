"""`python -m olist_pipeline`: Hydra composes the config, we validate it into a `RunSpec` and run it.

Fast paths (`--help`, `--cfg job`, config errors) never import ZenML or MLflow.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from olist_pipeline.speed import resident
from olist_pipeline.errors import ConfigError, OlistError
from olist_pipeline.paths import CONF_DIR, PROJECT_ROOT, resolve
from olist_pipeline.config.spec import RunSpec, build_run_spec

if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))


def resolve_config(cfg: DictConfig) -> dict[str, Any]:
    """The composed config as a plain dict, interpolations resolved, paths made absolute."""
    try:
        container: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid configuration: {exc}".splitlines()[0]) from None
    # Relative paths are relative to the project root, never the CWD.
    container["paths"] = {k: str(resolve(v)) for k, v in container.get("paths", {}).items()}
    if isinstance(container.get("dataset"), dict) and container["dataset"].get("path"):
        container["dataset"]["path"] = str(resolve(container["dataset"]["path"]))
    return container


def compose_spec(cfg: DictConfig, defer_library_checks: bool = False) -> tuple[RunSpec, str, dict[str, str]]:
    """Resolve and validate the composed config. Returns the spec, its YAML and its flat params.
    `defer_library_checks`: see `build_run_spec`."""
    from olist_pipeline.stack.tracking import flatten

    container = resolve_config(cfg)
    return build_run_spec(container, defer_library_checks), OmegaConf.to_yaml(container), flatten(container)


def _fail(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {message}")


def _overrides() -> list[str]:
    """The command-line overrides of this Hydra job (recorded so lineage can print a reproduce command)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def dispatch(
    spec: RunSpec, config_yaml: str, params: dict[str, str], complete_spec: Callable[[], RunSpec] | None = None
) -> float | None:
    """Run the job `pipeline.name` names and print its summary. Returns the training metric, if any.

    `complete_spec`: `spec` was built without the checks that import scikit-learn, and this builds it
    with them; only a training run answered from an identical earlier run goes without.
    """
    from olist_pipeline.runs import runner
    from olist_pipeline.app import summary

    name = spec.pipeline.name
    if name not in ("training", "cd"):
        resident.settle_gc()  # only a training run holds the collector until its stack is set up
    if complete_spec is not None and name not in ("training", "cd"):
        spec, complete_spec = complete_spec(), None
    if name == "undeploy":
        summary.print_undeploy(runner.run_undeploy(spec), spec.tracking.model_name)
        return None
    if name == "deploy":
        summary.print_deployment(runner.run_deploy(spec))
        return None
    if name == "inference":
        summary.print_inference(runner.run_inference(spec))
        return None
    if name == "lineage":
        summary.print_lineage(runner.run_lineage(spec))
        return None
    result = runner.run_training(spec, config_yaml, params, _overrides(), complete_spec=complete_spec)
    summary.print_summary(result, spec)
    if name == "cd":
        spec = complete_spec() if complete_spec is not None else spec
        if result.promoted:
            summary.print_deployment(runner.run_deploy(spec.model_copy(update={"model_version": str(result.model_version)})))
        else:
            summary.print_cd_kept(runner.served(spec), spec.tracking.model_name)
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
    from olist_pipeline.runs import runner
    from olist_pipeline.app import summary, sweep

    sweep_dir, number, overrides = job
    if spec.pipeline.name != "training":
        raise ConfigError(f"sweeps run the training pipeline, not pipeline={spec.pipeline.name}")
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
    result = runner.run_training(spec, config_yaml, params, overrides, extra_tags=tags, allow_reuse=False)
    summary.print_summary(result, spec)
    m = result.metrics
    sweep.append_job(sweep_dir, {
        "job": number, "overrides": " ".join(overrides),
        "status": "cached" if "train" in result.cached_steps else "completed",
        "rmse": m.get("rmse"), "mae": m.get("mae"), "r2": m.get("r2"), "fit_s": result.fit_seconds,
        "mlflow_run": result.mlflow_run_id, "zenml_run": result.zenml_run_id,
        spec.evaluation.primary_metric: m.get(spec.evaluation.primary_metric),
    })  # fmt: skip
    return float(m.get(spec.evaluation.primary_metric, float("nan")))


def run(cfg: DictConfig) -> float | None:
    """The Hydra task: returns the primary metric of a training run (what a sweeper optimises).

    In a sweep, a job that fails prints its one-line error, is recorded as failed and returns NaN, so
    the other jobs still run; the sweep's summary marks it and the sweep exits non-zero.
    """
    job = _sweep_job()
    try:
        if job is not None:
            return run_sweep_job(*compose_spec(cfg), job)
        # Checked in full unless answered from an identical earlier run (which passed these checks).
        return dispatch(*compose_spec(cfg, defer_library_checks=True), complete_spec=lambda: compose_spec(cfg)[0])
    except OlistError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        _fail(str(exc))
        if job is None:
            sys.exit(1)
        from olist_pipeline.app import sweep

        sweep.append_job(job[0], {"job": job[1], "overrides": " ".join(job[2]), "status": "failed", "error": str(exc)})
        return float("nan")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_entry(cfg: DictConfig) -> float | None:
    return run(cfg)


def _share_group_listing() -> None:
    """Make Hydra's `--help` list the config groups from one config repository, not one per group.

    Hydra 1.3 rebuilds (deep-copies) its whole config repository for every group it lists: about
    0.6 s of a 1 s `--help` here. Nothing changes during one `--help`, so the repository built for the
    first group serves the others. Only option listings without a primary config or overrides (what
    `--help` asks for) are shared; composing a config is untouched.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.object_type import ObjectType

    listing = ConfigLoaderImpl.get_group_options
    repositories: dict[int, Any] = {}

    def get_group_options(self, group_name, results_filter=ObjectType.CONFIG, config_name=None, overrides=None):  # type: ignore[no-untyped-def]
        if config_name is not None or overrides:
            return listing(self, group_name, results_filter, config_name, overrides)
        if id(self) not in repositories:
            repositories[id(self)] = self._parse_overrides_and_create_caching_repo(None, [])[1]
        return repositories[id(self)].get_group_options(group_name, results_filter)

    ConfigLoaderImpl.get_group_options = get_group_options  # type: ignore[method-assign]


def main() -> None:
    """Console entry point."""
    if {"--help", "-h"} & set(sys.argv[1:]):
        _share_group_listing()
    _hydra_entry()
