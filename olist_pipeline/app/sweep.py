"""Sweeps (`python -m olist_pipeline -m ...`): an MLflow parent run, one row per job, a ranked summary.

`SweepCallback` is a Hydra callback (conf/config.yaml, `hydra.callbacks.sweep`):
- `on_multirun_start` (driver): provisions the stack and the MLflow experiment once, before jobs start
  (parallel launchers must not race to create the stores), creates the parent run with
  `MlflowClient.create_run` and writes its id to `<sweep dir>/sweep.json` (launcher workers on other
  processes or nodes read it there; environment variables would not reach Ray/SLURM workers);
- each job (cli.dispatch) runs under it as a child run and appends its row to `<sweep dir>/jobs.jsonl`;
- `on_multirun_end` (driver): ranks the rows, prints the table, writes `summary.csv` / `summary.md`,
  logs them and a comparison plot to the parent run, closes it, and exits non-zero if a job failed.
  If the sweeper itself aborts, an `atexit` hook still writes the summary and closes the parent.

Resuming: the same multirun started again into the same sweep directory (`hydra.sweep.dir=<dir>`, `make
sweep RESUME=<dir>`) reopens the sweep's parent run, and each job whose composed config, data and code
match a job that completed there (the identical-run key of runs/reuse.py, kept in its row) is taken from
that row, status `resumed`, its MLflow child run left where it is. Only the other jobs run.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import fcntl
import json
import math
import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

SWEEP_FILE = "sweep.json"
JOBS_FILE = "jobs.jsonl"
#: The summary's columns around the task's metrics (regression: rmse, mae, r2; binary: roc_auc, ...).
LEADING, TRAILING = ["rank", "job", "overrides", "status"], ["fit_s", "mlflow_run", "error"]
REGRESSION_METRICS = ["rmse", "mae", "r2"]


def metric_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The metrics the jobs recorded, in the order they were recorded (regression's by default)."""
    from olist_pipeline.domain.tasks import HIGHER_IS_BETTER

    found = [k for row in rows for k in row if k in HIGHER_IS_BETTER]
    return list(dict.fromkeys(found)) or list(REGRESSION_METRICS)


def columns(rows: list[dict[str, Any]]) -> list[str]:
    return [*LEADING, *metric_columns(rows), *TRAILING]


def read_sweep(sweep_dir: Path) -> dict[str, Any]:
    """The sweep's shared facts (parent run id, ...), or {} outside a sweep."""
    path = Path(sweep_dir) / SWEEP_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def append_job(sweep_dir: Path, row: dict[str, Any]) -> None:
    """Append one job's row; jobs of parallel launchers write concurrently, so under a lock."""
    path = Path(sweep_dir) / JOBS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(row, default=str) + "\n")
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_UN)


def record_lost_job(sweep_dir: Path, number: int, overrides: list[str], error: str) -> bool:
    """A job whose process ended before it could record itself (killed, out of memory): print its error
    line and record it as failed, as a failing job records itself, so that the summary lists it and the
    sweep exits non-zero. Returns False outside a sweep this callback runs (no sweep.json)."""
    if not (Path(sweep_dir) / SWEEP_FILE).exists():
        return False
    from olist_pipeline.app.console import fail as _fail

    _fail(f"job #{number} ({' '.join(overrides)}): {error}")
    append_job(sweep_dir, {"job": number, "overrides": " ".join(overrides), "status": "failed", "error": error})
    shared = read_sweep(sweep_dir)
    if shared.get("parent_run_id"):
        from olist_pipeline.stack.registry import mlflow_client

        with contextlib.suppress(Exception):  # the row above already says the job failed
            mark_killed(mlflow_client(), shared, number)
    return True


def mark_killed(client: Any, shared: dict[str, Any], number: int) -> None:
    """End the MLflow run a lost job left RUNNING (if it got that far) as KILLED: nobody else will."""
    runs = client.search_runs(
        [shared["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{shared['parent_run_id']}' and tags.sweep_job = '{number}' "
        "and attributes.status = 'RUNNING'",
    )
    for run in runs:
        client.set_terminated(run.info.run_id, status="KILLED")


def read_jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    path = Path(sweep_dir) / JOBS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


#: Rows of jobs whose results exist (a resumed sweep takes them instead of running the job again).
DONE = ("completed", "cached", "resumed")


def latest_per_job(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per job number, the last one written: a resumed sweep appends a job's new row after the
    row of its interrupted attempt."""
    latest: dict[Any, dict[str, Any]] = {}
    for row in rows:
        latest[row.get("job")] = row
    return list(latest.values())


def completed_job(sweep_dir: Path, run_key: str, still_there: Any = None) -> dict[str, Any] | None:
    """The row of a job of this sweep that completed with the same identity (`run_key`: composed config,
    data, code), or None. `still_there(row)`, if given, checks its runs still exist (False: run it again)."""
    for row in reversed(read_jobs(sweep_dir)):
        if row.get("run_key") == run_key and row.get("status") in DONE:
            if still_there is None or still_there(row) is not False:
                return row
    return None


def rank(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Best first by `metric` (its direction); failed jobs last, in job order."""
    from olist_pipeline.domain.tasks import higher_is_better

    def score(row: dict[str, Any]) -> float:
        value = row.get(metric)
        if value is None or (isinstance(value, float) and math.isnan(value)) or row.get("status") == "failed":
            return math.inf
        return -float(value) if higher_is_better(metric) else float(value)

    ordered = sorted(rows, key=lambda r: (score(r), int(r.get("job", 0))))
    ranked = []
    for position, row in enumerate(ordered, start=1):
        ranked.append({**row, "rank": position if score(row) != math.inf else "-"})
    return ranked


def varying_overrides(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Show each job by the overrides that differ between jobs (`all_overrides` keeps the full list)."""
    token_sets = [set(str(r.get("overrides", "")).split()) for r in rows]
    common = set.intersection(*token_sets) if len(token_sets) > 1 else set()
    out = []
    for row in rows:
        tokens = str(row.get("overrides", "")).split()
        out.append({**row, "all_overrides": row.get("overrides", ""), "overrides": " ".join(t for t in tokens if t not in common)})
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def to_markdown(rows: list[dict[str, Any]]) -> str:
    shown = columns(rows)
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)).replace("|", "\\|") for c in shown) + " |")
    return "\n".join(lines) + "\n"


def _job_config(config: DictConfig) -> DictConfig:
    cfg = OmegaConf.create(OmegaConf.to_container(config, resolve=False))
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


#: The project's modules a training job imports (besides the libraries the speed package preloads).
JOB_MODULES = ("olist_pipeline.runs.training", "olist_pipeline.pipelines.training", "olist_pipeline.steps.training",
               "olist_pipeline.steps.evaluation", "olist_pipeline.steps.promotion", "olist_pipeline.app.summary",
               "skops.io")  # fmt: skip

#: Imported by a job only to draw its evaluation report (`evaluation.report`): 0.2 s.
REPORT_MODULES = ("matplotlib.pyplot", "sklearn.inspection")


def preload_jobs(job_configs: list[DictConfig] | None = None) -> None:
    """Import what the jobs will import and fill the per-process caches, in the driver: jobs forked from
    it (hydra/launcher=olist_fork) then start with that done instead of each doing it again.

    What no job of `job_configs` needs is left out: the report's plotting libraries unless a job draws
    its report, and ZenML's flavor classes (only a run creating a ZenML store imports them; the sweep's
    callback has set the store up by now)."""
    from olist_pipeline import speed

    report = job_configs is None or any(
        OmegaConf.select(cfg, "evaluation.report", default=True) is not False for cfg in job_configs
    )
    speed.preload_for_jobs(JOB_MODULES, leave_out=() if report else REPORT_MODULES)


def _check_same_sweep(sweep_dir: Path, earlier: dict[str, Any], overrides: list[str]) -> None:
    """A sweep directory is resumed only by the sweep that made it (same overrides, so the same jobs)."""
    from olist_pipeline.errors import ConfigError

    recorded = earlier.get("overrides")
    if recorded is not None and list(recorded) != overrides:
        raise ConfigError(
            f"{sweep_dir} holds another sweep ({' '.join(recorded)}), not this one ({' '.join(overrides)}): "
            "resume it with the same overrides, or choose a new hydra.sweep.dir"
        )


def _resume(client: Any, sweep_dir: Path, earlier: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Reopen an interrupted sweep's parent run: the same sweep started again into its directory. Child
    runs its interrupted jobs left RUNNING are ended as KILLED. Returns sweep.json's new content."""
    from mlflow.exceptions import MlflowException

    from olist_pipeline.errors import ConfigError

    parent = earlier["parent_run_id"]
    try:
        client.get_run(parent)
    except MlflowException:
        raise ConfigError(
            f"{sweep_dir} belongs to a sweep whose MLflow parent run {parent} is not in this tracking store: "
            "choose a new hydra.sweep.dir"
        ) from None
    for run in client.search_runs(
        [earlier["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{parent}' and attributes.status = 'RUNNING'",
    ):
        client.set_terminated(run.info.run_id, status="KILLED")
    client.update_run(parent, status="RUNNING")
    done = sum(r.get("status") in DONE for r in latest_per_job(read_jobs(sweep_dir)))
    from rich.console import Console

    Console(highlight=False, soft_wrap=True).print(
        f"resuming     the sweep in {sweep_dir} (MLflow parent run {parent}): {done} job(s) completed earlier", markup=False
    )
    return {**earlier, "overrides": overrides, "resumed": int(earlier.get("resumed", 0)) + 1,
            "resumed_at": dt.datetime.now().isoformat(timespec="seconds")}  # fmt: skip


class SweepCallback(Callback):
    """Parent MLflow run, shared set-up before the jobs, and the ranked summary after them."""

    def __init__(self, enabled: bool = True, experiment_dir: str | None = None, best_experiment: str | None = None) -> None:
        self.enabled = enabled
        self.experiment_dir = Path(experiment_dir) if experiment_dir else None
        self.best_experiment = best_experiment
        self._sweep_dir: Path | None = None
        self._choices: dict[str, str] = {}
        self._finished = False
        self._driver_pid: int | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        from olist_pipeline.errors import OlistError

        try:
            self._start(config)
        except OlistError as exc:  # one line, as a job's own errors print
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            from olist_pipeline.app.console import fail as _fail

            _fail(str(exc))
            raise SystemExit(1) from None

    def _start(self, config: DictConfig) -> None:
        from olist_pipeline.config.compose import compose_spec
        from olist_pipeline.stack.infra import configure_environment, ensure_mlflow_experiment, provision
        from olist_pipeline.stack.registry import mlflow_client
        from olist_pipeline import speed

        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        overrides = list(config.hydra.overrides.task)
        earlier = read_sweep(sweep_dir)
        if earlier.get("parent_run_id"):
            _check_same_sweep(sweep_dir, earlier, overrides)  # before any set-up
        spec, _, _ = compose_spec(_job_config(config))
        configure_environment(spec.stack)
        provision(spec.stack)
        experiment_id = ensure_mlflow_experiment(spec.stack, spec.tracking.experiment_name)
        client = mlflow_client()
        if earlier.get("parent_run_id"):
            shared = _resume(client, sweep_dir, earlier, overrides)
        else:
            parent = client.create_run(
                experiment_id,
                run_name=f"{spec.tracking.run_name_prefix}-sweep-{dt.datetime.now():%Y%m%d-%H%M%S}",
                tags={"olist.sweep": "parent", "sweep_dir": str(sweep_dir), "sweep_overrides": " ".join(overrides)},
            )
            shared = {
                "parent_run_id": parent.info.run_id,
                "experiment_id": experiment_id,
                "primary_metric": spec.evaluation.primary_metric,
                "scored_split": spec.evaluation.split,
                "started": dt.datetime.now().isoformat(timespec="seconds"),
                "overrides": overrides,
            }
        (sweep_dir / SWEEP_FILE).write_text(json.dumps(shared, indent=2))
        self._sweep_dir = sweep_dir
        self._driver_pid = os.getpid()
        self._choices = {k: str(v) for k, v in config.hydra.runtime.choices.items() if not k.startswith("hydra")}
        atexit.register(self._finish, aborted=True)
        # The sweep's set-up is done: its process collects as usual from here on, whatever the launcher.
        speed.settle_gc()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.enabled and self._finish(aborted=False):
            raise SystemExit(1)  # the sweep was not clean: at least one job failed

    def _finish(self, aborted: bool) -> bool:
        """Summary + parent run close (once). Returns True when a job failed."""
        if self._finished or self._sweep_dir is None:
            return False
        if os.getpid() != self._driver_pid:  # a job forked from the driver (olist_fork launcher) inherits
            return False  # this object and its atexit hook; only the driver closes the sweep
        self._finished = True
        sweep_dir = self._sweep_dir
        shared = read_sweep(sweep_dir)
        metric = shared.get("primary_metric", "rmse")
        rows = rank(varying_overrides(latest_per_job(read_jobs(sweep_dir))), metric)
        failed = aborted or any(r.get("status") == "failed" for r in rows)
        (sweep_dir / "summary.md").write_text(to_markdown(rows))
        import pandas as pd

        pd.DataFrame(rows, columns=[*columns(rows), "zenml_run", "all_overrides"]).to_csv(sweep_dir / "summary.csv", index=False)
        _print_table(rows, sweep_dir, metric, shared.get("scored_split", "test"))
        best_file = self._write_best_experiment(sweep_dir, shared)
        if best_file is not None:
            shared["best_experiment_file"] = str(best_file)
        with contextlib.suppress(Exception):  # the summary files exist even if the tracking server is gone
            _log_to_parent(shared, rows, sweep_dir, metric, failed)
        return failed


    def _write_best_experiment(self, sweep_dir: Path, shared: dict[str, Any]) -> Path | None:
        """After an Optuna search: its best parameters as a ready-to-use `experiment=` file."""
        results = sweep_dir / "optimization_results.yaml"
        if not (self.best_experiment and self.experiment_dir and results.exists()):
            return None
        best = OmegaConf.load(results)
        path = write_experiment(
            self.experiment_dir / f"{self.best_experiment}.yaml",
            dict(best.best_params),
            float(best.best_value),
            {g: self._choices[g] for g in ("model", "features", "cleaning") if g in self._choices},
            note=f"best of {len(read_jobs(sweep_dir))} trials, {shared.get('scored_split')} "
            f"{shared.get('primary_metric')} {float(best.best_value):.4f}; sweep {sweep_dir}",
        )
        from rich.console import Console

        Console(highlight=False, soft_wrap=True).print(
            f"best         {path} (python -m olist_pipeline experiment={self.best_experiment})"
        )
        return path


def write_experiment(path: Path, params: dict[str, Any], value: float, choices: dict[str, str], note: str) -> Path:
    """A `# @package _global_` experiment file pinning `choices` and setting dotted `params`."""
    nested: dict[str, Any] = {}
    for dotted, val in params.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = val
    body = OmegaConf.to_yaml(OmegaConf.create(nested))
    defaults = "".join(f"  - override /{group}: {choice}\n" for group, choice in choices.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# @package _global_\n"
        f"# Written by a hyper-parameter search ({note}).\n"
        "# Train on the training side, score the test split and run the promotion gate:\n"
        f"#   python -m olist_pipeline experiment={path.stem}\n"
        + (f"defaults:\n{defaults}\n" if defaults else "")
        + body
    )
    return path


def _print_table(rows: list[dict[str, Any]], sweep_dir: Path, metric: str, split: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"sweep ranked by {split} {metric} ({len(rows)} jobs)", header_style="bold")
    shown = columns(rows)[:-2]
    numbers = {*metric_columns(rows), "fit_s"}
    for column in shown:
        table.add_column(column, justify="right" if column in numbers else "left")
    for row in rows:
        status = row.get("status", "")
        style = "red" if status == "failed" else None
        table.add_row(*[_cell(row.get(c)) for c in shown], style=style)
    console = Console(highlight=False, soft_wrap=True)
    console.print(table)
    for row in rows:
        if row.get("error"):
            console.print(f"job {row.get('job')} failed: {row['error']}", markup=False)
    console.print(f"summary      {sweep_dir / 'summary.csv'}, {sweep_dir / 'summary.md'}")


def _log_to_parent(shared: dict[str, Any], rows: list[dict[str, Any]], sweep_dir: Path, metric: str, failed: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from olist_pipeline.stack.registry import mlflow_client

    parent = shared.get("parent_run_id")
    if not parent:
        return
    client = mlflow_client()
    scored = [r for r in rows if r.get("status") != "failed" and r.get(metric) is not None]
    if scored:
        figure, axes = plt.subplots(figsize=(10, 0.45 * len(scored) + 1.5), layout="constrained")
        labels = [f"#{r.get('job')} {str(r.get('overrides', ''))[:60]}" for r in scored][::-1]
        axes.barh(labels, [float(r[metric]) for r in scored][::-1], color="#4c72b0")
        axes.set_xlabel(f"{shared.get('scored_split', 'test')} {metric}")
        axes.set_title("sweep: jobs ranked (best at the top)")
        axes.tick_params(axis="y", labelsize=8)
        client.log_figure(parent, figure, "sweep/comparison.png")
        plt.close(figure)
        best = scored[0]
        client.log_metric(parent, f"best_{metric}", float(best[metric]))
        client.set_tag(parent, "best_overrides", best.get("overrides", ""))
    client.log_artifact(parent, str(sweep_dir / "summary.csv"), "sweep")
    client.log_artifact(parent, str(sweep_dir / "summary.md"), "sweep")
    client.log_metric(parent, "jobs", len(rows))
    client.log_metric(parent, "jobs_failed", sum(r.get("status") == "failed" for r in rows))
    client.set_terminated(parent, "FAILED" if failed else "FINISHED")
