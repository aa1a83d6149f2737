"""`python -m olist_pipeline`: Hydra composes the config, we validate it into a `RunSpec` and run it.

Fast paths (`--help`, `--cfg job`, config errors) never import ZenML or MLflow.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from olist_pipeline.errors import ConfigError, OlistError
from olist_pipeline.paths import CONF_DIR, PROJECT_ROOT, resolve
from olist_pipeline.spec import RunSpec, build_run_spec

if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))


def compose_spec(cfg: DictConfig) -> tuple[RunSpec, str, dict[str, str]]:
    """Resolve and validate the composed config. Returns the spec, its YAML and its flat params."""
    from olist_pipeline.tracking import flatten

    try:
        container: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid configuration: {exc}".splitlines()[0]) from None
    # Relative paths are relative to the project root, never the CWD.
    container["paths"] = {k: str(resolve(v)) for k, v in container.get("paths", {}).items()}
    if isinstance(container.get("dataset"), dict) and container["dataset"].get("path"):
        container["dataset"]["path"] = str(resolve(container["dataset"]["path"]))
    spec = build_run_spec(container)
    return spec, OmegaConf.to_yaml(container), flatten(container)


def _fail(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {message}")


def _overrides() -> list[str]:
    """The command-line overrides of this Hydra job (recorded so lineage can print a reproduce command)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def dispatch(spec: RunSpec, config_yaml: str, params: dict[str, str]) -> float | None:
    """Run the job `pipeline.name` names and print its summary. Returns the training metric, if any."""
    from olist_pipeline import runner, summary

    name = spec.pipeline.name
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
    result = runner.run_training(spec, config_yaml, params, _overrides())
    summary.print_summary(result, spec)
    if name == "cd":
        if result.promoted:
            summary.print_deployment(runner.run_deploy(spec.model_copy(update={"model_version": str(result.model_version)})))
        else:
            summary.print_cd_kept(runner.served(spec), spec.tracking.model_name)
    return result.metrics.get(spec.evaluation.primary_metric)


def run(cfg: DictConfig) -> float | None:
    """The Hydra task: returns the primary test metric of a training run (what a sweeper optimises)."""
    try:
        spec, config_yaml, params = compose_spec(cfg)
        return dispatch(spec, config_yaml, params)
    except OlistError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        _fail(str(exc))
        sys.exit(1)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_entry(cfg: DictConfig) -> float | None:
    return run(cfg)


def main() -> None:
    """Console entry point."""
    _hydra_entry()
