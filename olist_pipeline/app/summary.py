"""The short summary printed at the end of a run."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from typing import Any

from olist_pipeline.runs.inference import InferenceResult
from olist_pipeline.runs.training import NEVER_CACHED, RunResult
from olist_pipeline.config.spec import RunSpec


def _console(console: Console | None) -> Console:
    return console or Console(highlight=False, soft_wrap=True)


def mlflow_ui_command(tracking_uri: str) -> str:
    """The exact command that opens the MLflow UI on this run's store (with this venv's mlflow)."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri}"
    mlflow = Path(sys.executable).parent / "mlflow"
    return f"{shlex.quote(str(mlflow))} ui --backend-store-uri {shlex.quote(tracking_uri)} --host 127.0.0.1 --port 5000"


def task_line(spec: RunSpec) -> str:
    """`regression of review_score` / `binary: low_review (review_score <= 2)`."""
    if spec.task.kind == "binary":
        label = spec.task.binary_label(spec.dataset.target)
        return f"binary: {label.name} ({label.rule()}), label at probability >= {spec.task.decision_threshold:g}"
    return f"regression of {spec.dataset.target}"


def print_summary(result: RunResult, spec: RunSpec, console: Console | None = None) -> None:
    """Run name, metrics, MLflow run id, cache use, and how to look at it."""
    console = _console(console)
    table = Table(title=f"run {result.run_name}", show_header=True, header_style="bold")
    table.add_column(f"{result.scored_split} metric")
    table.add_column("value", justify="right")
    for name in [*spec.evaluation.metrics, "low_score_recall"]:
        if name in result.metrics:
            table.add_row(name, f"{result.metrics[name]:.4f}")
    console.print(table)
    console.print(f"task         {task_line(spec)}")
    console.print(f"model        {spec.model.name} ({spec.model.target}) on features={spec.features.name}, split={spec.split.strategy}")
    console.print(f"data         {spec.dataset.path} sha256={result.data_sha256[:16]} (dataset={spec.dataset.name})")
    console.print(f"zenml run    {result.zenml_run_id} ({result.status})")
    console.print(f"mlflow run   {result.mlflow_run_id} in experiment {result.mlflow_experiment!r}")
    if result.reused:
        console.print(
            "cached steps all (identical to an earlier run with the same champion: its results, nothing re-ran, "
            "no new ZenML run; pipeline.reuse_identical_run=false to record one)"
        )
    elif set(result.executed_steps) - set(NEVER_CACHED):
        cached = ", ".join(result.cached_steps) or "none"
        console.print(f"cached steps {cached}")
    else:
        console.print(
            "cached steps all (identical run: metrics and MLflow run are those of the run that computed them; "
            "the promotion gate always runs)"
        )
    console.print(f"git commit   {result.git_commit}")
    if result.model_version is not None:
        console.print(
            f"model version {result.model_name} v{result.model_version} (ZenML)  = "
            f"MLflow registry version {result.registry_version}  (lineage: python -m olist_pipeline "
            f"pipeline=lineage model_version={result.model_version})"
        )
    if result.promotion:
        style = "green" if result.promoted else "yellow"
        console.print(f"promotion    [{style}]{escape(result.promotion.get('summary', ''))}[/]")
    console.print(f"MLflow UI    {mlflow_ui_command(result.mlflow_tracking_uri)}")


def print_deployment(record: dict[str, Any], console: Console | None = None) -> None:
    """Where the model is served and how to call it."""
    console = _console(console)
    verb = {"kept": "already serving", "replaced": "now serving", "started": "now serving"}[record["action"]]
    replaced = f" (replaced v{record['replaced_model_version']})" if "replaced_model_version" in record else ""
    console.print(
        f"[green]{verb}[/] {record['model_name']} v{record['model_version']} "
        f"(MLflow registry version {record['registry_version']}){replaced}"
    )
    console.print(f"url          {record['url']}  (health: {record['url']}/health, predict: POST {record['invocations_url']})")
    console.print(f"log          {record['log_path']}")
    console.print("stop         make serve-stop  (python -m olist_pipeline pipeline=undeploy)")


def print_undeploy(server: Any, model_name: str, console: Console | None = None) -> None:
    console = _console(console)
    if server is None:
        console.print(f"no model server is running for {model_name}")
    else:
        console.print(f"stopped the model server of {model_name} v{server.model_version} at {server.url} (pid {server.pid})")


def print_inference(result: InferenceResult, console: Console | None = None) -> None:
    console = _console(console)
    console.print(
        f"predicted {result.rows_out} row(s) of {result.rows_in} with {result.model_name} v{result.model_version} "
        f"(MLflow registry version {result.registry_version}){' [cached]' if result.cached else ''}"
    )
    console.print(f"predictions  {result.output_path}")
    console.print(f"zenml run    {result.run_name} ({result.zenml_run_id}), artifact 'predictions'")


def _dataset_and_task(params: dict[str, str]) -> str:
    """`sample, task regression of review_score` from a training run's recorded config."""
    if not params:
        return "?"
    dataset, kind = params.get("dataset.name", "?"), params.get("task.kind", "regression")
    if kind == "binary":
        rule = params.get("task.label.name", "?")
        return f"{dataset}, task binary: {rule} (column {params.get('task.label.column', '?')})"
    return f"{dataset}, task {kind} of {params.get('dataset.target', '?')}"


def print_lineage(lineage: Any, console: Console | None = None) -> None:
    """The chain behind a model version, top to bottom."""
    console = _console(console)
    stage = lineage.stage or "none"
    console.rule(f"{lineage.model_name} v{lineage.version} (stage {stage})")
    rows = [
        ("zenml model version", f"{lineage.version_id} created {lineage.created}"),
        ("training run", f"{lineage.training_run.get('name', '?')} ({lineage.training_run.get('id', '?')}, {lineage.training_run.get('status', '?')})"),
        ("dataset, task", _dataset_and_task(lineage.params)),
        ("data", f"{lineage.data.get('path', '?')} [{lineage.data.get('format', '?')}]"),
        ("data sha256", f"{lineage.data.get('sha256', '?')} (now: {'same' if lineage.data.get('now') == lineage.data.get('sha256') else lineage.data.get('now', '?')})"),
        ("git commit", lineage.git_commit),
        ("overrides", " ".join(lineage.overrides) or "(none)"),
        ("libraries", " ".join(f"{k}=={v}" for k, v in lineage.libraries.items()) or "(not recorded)"),
        ("test metrics", ", ".join(f"{k} {v:.4f}" for k, v in lineage.test_metrics.items() if not k.startswith(("mae_score_", "low_score_share", "positive_share")))),
        ("promotion", lineage.promotion or "-"),
    ]
    if lineage.mlflow:
        m = lineage.mlflow
        rows += [
            ("mlflow version", f"{m['registered_model']} version {m['registry_version']} aliases={m['aliases'] or '[]'}"),
            ("mlflow run", f"{m['run_id']} (model {m['source']})"),
            ("mlflow tags", ", ".join(f"{k}={v}" for k, v in sorted(m["tags"].items()) if k.startswith("zenml_") or k in ("data_sha256", "git_commit"))),
        ]
    if lineage.deployment:
        d = lineage.deployment
        rows.append(("last deployed", f"{d.get('url')} at {d.get('started_at')} ({d.get('action')})"))
    for line in lineage.other_runs:
        rows.append(("used by", line))
    for key, value in rows:
        console.print(f"{key:<20} {escape(str(value))}")
    for warning in lineage.warnings:
        console.print(f"[yellow]warning[/]              {warning}")
    console.print(f"{'reproduce':<20} {escape(lineage.reproduce)}")
    checked = lineage.reproduced or f"not checked yet (pipeline=reproduce model_version={lineage.version})"
    console.print(f"{'reproduced':<20} {escape(checked)}")
    if lineage.config_yaml:
        console.rule("composed config")
        console.print(lineage.config_yaml.rstrip(), markup=False)


def print_cd_kept(server: Any, model_name: str, console: Console | None = None) -> None:
    """CD after a blocked candidate: say what keeps serving."""
    console = _console(console)
    if server is None:
        console.print(f"deploy       skipped: the candidate was not promoted (no model server is running for {model_name})")
    else:
        console.print(
            f"deploy       skipped: the candidate was not promoted; {model_name} v{server.model_version} "
            f"keeps serving at {server.url}"
        )


def say(line: str, console: Console | None = None) -> None:
    """A progress line while a long job runs (plain text: paths may hold brackets)."""
    _console(console).print(line, markup=False)


def print_reproduction(result: Any, console: Console | None = None) -> None:
    """The reproduce verdict: what was re-run, every check, and what was recorded on the version."""
    console = _console(console)
    console.print(f"reproduce    {result.label}: commit {result.commit[:12]}, data {escape(result.data_path)} (sha256 {result.data_sha256[:16]}, unchanged)")
    console.print(f"re-run       python -m olist_pipeline {escape(' '.join(result.rerun))}")
    table = Table(title=f"{result.label}: recorded vs re-run", header_style="bold")
    for column in ("check", "recorded", "re-run", "difference", "same"):
        table.add_column(column, justify="right" if column in ("recorded", "re-run") else "left")
    for check in result.verdict.checks:
        same = "yes" if check.ok else "[red]no[/]"
        table.add_row(*(escape(v) for v in (check.name, check.recorded, check.reproduced, check.difference)), same)
    console.print(table)
    for caveat in result.verdict.caveats:
        console.print(f"[yellow]weaker[/]       {escape(caveat)}")
    style = "green" if result.verdict.reproduced else "red"
    console.print(f"reproduced   [{style}]{escape(result.verdict.summary)}[/]")
    console.print(f"recorded     on {result.label}: ZenML metadata and MLflow tag reproduced = {escape(result.recorded_as)}")
    if result.kept:
        console.print(f"scratch      {escape(result.kept)}")


def print_comparison(result: Any, console: Console | None = None) -> None:
    """Two versions side by side: config keys that differ, data, code, scores on the same rows, gates."""
    console = _console(console)
    comparison = result.comparison
    la, lb = comparison.labels
    console.rule(f"{comparison.model_name}: {la} vs {lb}")
    config = Table(title="config: keys that differ", header_style="bold")
    for column in ("key", la, lb):
        config.add_column(column)
    for key, (va, vb) in comparison.config.items():
        config.add_row(escape(key), escape(str(va)), escape(str(vb)))
    if comparison.config:
        console.print(config)
    else:
        console.print("config       the same (no key differs)")
    data = Table(title="data", header_style="bold")
    for column in ("", la, lb):
        data.add_column(column)
    for row in comparison.data:
        data.add_row(*(escape(v) for v in row))
    console.print(data)
    console.print("code", markup=False)
    console.print(comparison.code.rstrip() or "(no difference)", markup=False)
    scores = Table(title=f"scores on {lb}'s test rows ({comparison.scored_rows} rows)", header_style="bold")
    for column in ("metric", la, lb):
        scores.add_column(column, justify="left" if column == "metric" else "right")
    for row in comparison.score_table():
        scores.add_row(*row)
    console.print(scores)
    for label, value in comparison.scores.items():
        if isinstance(value, str):
            console.print(f"[yellow]{label}[/] {escape(value)}")
    for label, gate in comparison.gates.items():
        console.print(f"gate {label:<7} {escape(gate)}")
    if result.logged_to:
        console.print(f"logged       {result.logged_to} (MLflow, on {lb}'s run)")
