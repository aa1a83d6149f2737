"""The short summary printed at the end of a run."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from olist_pipeline.runner import RunResult
from olist_pipeline.spec import RunSpec


def mlflow_ui_command(tracking_uri: str) -> str:
    """The exact command that opens the MLflow UI on this run's store (with this venv's mlflow)."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri}"
    mlflow = Path(sys.executable).parent / "mlflow"
    return f"{shlex.quote(str(mlflow))} ui --backend-store-uri {shlex.quote(tracking_uri)} --host 127.0.0.1 --port 5000"


def print_summary(result: RunResult, spec: RunSpec, console: Console | None = None) -> None:
    """Run name, metrics, MLflow run id, cache use, and how to look at it."""
    console = console or Console(highlight=False, soft_wrap=True)
    table = Table(title=f"run {result.run_name}", show_header=True, header_style="bold")
    table.add_column("test metric")
    table.add_column("value", justify="right")
    for name in [*spec.evaluation.metrics, "low_score_recall"]:
        if name in result.metrics:
            table.add_row(name, f"{result.metrics[name]:.4f}")
    console.print(table)
    console.print(f"model        {spec.model.name} ({spec.model.target}) on features={spec.features.name}, split={spec.split.strategy}")
    console.print(f"data         {spec.dataset.path} sha256={result.data_sha256[:16]}")
    console.print(f"zenml run    {result.zenml_run_id} ({result.status})")
    console.print(f"mlflow run   {result.mlflow_run_id} in experiment {result.mlflow_experiment!r}")
    if result.executed_steps:
        cached = ", ".join(result.cached_steps) or "none"
        console.print(f"cached steps {cached}")
    else:
        console.print("cached steps all (identical run: metrics and MLflow run are those of the run that computed them)")
    console.print(f"git commit   {result.git_commit}")
    console.print(f"MLflow UI    {mlflow_ui_command(result.mlflow_tracking_uri)}")
