"""Sweeps as Hydra multiruns: the real CLI with `-m`, the real ZenML pipeline and MLflow tracker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from olist_pipeline.domain.data.synthetic import generate_merged
from olist_pipeline.app.sweep import rank, to_markdown, varying_overrides
from tests.conftest import load_script


# --- the summary as pure functions (fast) ----------------------------------------------------------
@pytest.mark.parametrize("metric", ["rmse", "r2", "roc_auc", "log_loss"])
def test_rank_puts_the_best_first_and_failures_last(metric):
    rows = [
        {"job": 0, "status": "completed", "rmse": 1.2, "r2": 0.1, "roc_auc": 0.7, "log_loss": 0.6},
        {"job": 1, "status": "failed", "error": "bad"},
        {"job": 2, "status": "completed", "rmse": 0.9, "r2": 0.4, "roc_auc": 0.8, "log_loss": 0.4},
    ]
    ranked = rank(rows, metric)
    assert [r["job"] for r in ranked] == [2, 0, 1]
    assert [r["rank"] for r in ranked] == [1, 2, "-"]
    assert "| 1 | 2 |" in to_markdown(ranked)


def test_varying_overrides_keep_what_differs():
    rows = [{"overrides": "+env=dev model=ridge x=1"}, {"overrides": "+env=dev model=linear_regression x=1"}]
    shown = varying_overrides(rows)
    assert [r["overrides"] for r in shown] == ["model=ridge", "model=linear_regression"]
    assert shown[0]["all_overrides"] == "+env=dev model=ridge x=1"


def test_mark_killed_ends_only_the_lost_jobs_running_run(tmp_path):
    from mlflow import MlflowClient

    from olist_pipeline.app.sweep import mark_killed

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("sweep")
    parent = client.create_run(experiment, tags={"olist.sweep": "parent"}).info.run_id
    child = {n: client.create_run(experiment, tags={"mlflow.parentRunId": parent, "sweep_job": str(n)}).info.run_id
             for n in (0, 1)}  # fmt: skip
    mark_killed(client, {"parent_run_id": parent, "experiment_id": experiment}, 1)
    assert client.get_run(child[1]).info.status == "KILLED"
    assert client.get_run(child[0]).info.status == "RUNNING" and client.get_run(parent).info.status == "RUNNING"


# --- a real sweep ----------------------------------------------------------------------------------
def sweep(state_dir: Path, sweep_dir: Path, *overrides: str, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "olist_pipeline", "-m", f"paths.state_dir={state_dir}", f"hydra.sweep.dir={sweep_dir}", *overrides]
    env = {**os.environ, "ZENML_ANALYTICS_OPT_IN": "false", "COLUMNS": "200"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd="/", env=env)


slow = pytest.mark.slow


def pipeline_run_times(state_dir: Path) -> list[tuple[str, str]]:
    """(start, end) of each training pipeline run in the local ZenML store, in order of start."""
    import sqlite3

    db = state_dir / "zenml" / "local_stores" / "default_zen_store" / "zenml.db"
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "select start_time, end_time from pipeline_run where name like 'olist-%' order by start_time"
        ).fetchall()


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sweep_data") / "orders.csv"
    generate_merged(700, seed=11).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def two_model_sweep(tmp_path_factory, tiny_data):
    home = tmp_path_factory.mktemp("sweep_state")
    sweep_dir = home / "multirun"
    result = sweep(
        home, sweep_dir, f"dataset.path={tiny_data}", "evaluation.report=false", "promotion.enabled=false",
        "model=linear_regression,ridge",
    )  # fmt: skip
    return home, sweep_dir, result


@slow
def test_sweep_runs_every_job_and_writes_a_ranked_summary(two_model_sweep):
    home, sweep_dir, result = two_model_sweep
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert len(summary) == 2 and set(summary["status"]) == {"completed"}
    assert sorted(summary["overrides"]) == ["model=linear_regression", "model=ridge"]
    assert list(summary["rank"]) == [1, 2] and summary["rmse"].is_monotonic_increasing
    assert summary[["rmse", "mae", "r2", "fit_s"]].notna().all().all()
    markdown = (sweep_dir / "summary.md").read_text()
    assert markdown.startswith("| rank | job | overrides | status | rmse |") and "model=ridge" in markdown
    assert re.search(r"sweep ranked by test rmse \(2 jobs\)", result.stdout)


@slow
def test_data_steps_come_from_cache_after_the_first_job(two_model_sweep):
    home, _, result = two_model_sweep
    cached = re.findall(r"^cached steps\s+(.*)$", result.stdout, re.M)
    assert len(cached) == 2
    assert cached[0] == "none"
    assert set(cached[1].split(", ")) == {"ingest", "clean", "build_features", "split"}


@slow
def test_parent_and_child_runs_in_mlflow(two_model_sweep):
    home, sweep_dir, _ = two_model_sweep
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home}/mlflow/mlflow.db")
    experiment = client.get_experiment_by_name("olist_review_score")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("olist.sweep") == "parent"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.data.metrics["jobs"] == 2
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2
    assert {c.data.tags["override.model"] for c in children} == {"linear_regression", "ridge"}
    assert all("test_rmse" in c.data.metrics for c in children)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "sweep")}
    assert {"sweep/comparison.png", "sweep/summary.csv", "sweep/summary.md"} <= artifacts
    assert parent.data.tags["best_overrides"] == pd.read_csv(sweep_dir / "summary.csv")["overrides"][0]


LAUNCHERS = {
    "basic": [],
    "olist_fork": ["hydra/launcher=olist_fork", "hydra.launcher.n_jobs=2"],
}


@slow
@pytest.mark.parametrize("launcher", ["basic", "olist_fork"])
def test_a_failing_job_fails_alone_and_the_sweep_exit_code_says_so(tmp_path, tiny_data, launcher):
    result = sweep(
        tmp_path, tmp_path / "multirun", f"dataset.path={tiny_data}", "evaluation.report=false",
        "promotion.enabled=false", "model=ridge", "model.alpha=1.0,-1.0", *LAUNCHERS[launcher],
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "alpha" in errors[0]
    summary = pd.read_csv(tmp_path / "multirun" / "summary.csv")
    assert dict(zip(summary["overrides"], summary["status"])) == {"model.alpha=1.0": "completed", "model.alpha=-1.0": "failed"}
    assert "alpha" in summary.loc[summary["status"] == "failed", "error"].iloc[0]
    assert len(re.findall(r"sweep ranked by", result.stdout)) == 1


@slow
def test_a_killed_forked_job_is_recorded_as_failed_and_the_others_finish(tmp_path, tiny_data):
    """A job's process killed from outside (the OOM killer, say): one error line naming the signal, the
    job failed in the summary, the other job completed, the sweep exits non-zero, no traceback."""
    import psutil

    args = [sys.executable, "-m", "olist_pipeline", "-m", f"paths.state_dir={tmp_path}", f"hydra.sweep.dir={tmp_path / 'multirun'}",
            f"dataset.path={tiny_data}", "evaluation.report=false", "promotion.enabled=false",
            *LAUNCHERS["olist_fork"], "model=ridge,linear_regression"]  # fmt: skip
    env = {**os.environ, "ZENML_ANALYTICS_OPT_IN": "false", "COLUMNS": "200"}
    env.pop("HYDRA_FULL_ERROR", None)
    sweep_process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/", env=env)
    driver = psutil.Process(sweep_process.pid)
    command = driver.cmdline()

    def is_job(child: psutil.Process) -> bool:
        try:
            return child.cmdline() == command
        except psutil.Error:  # a child that has just exited (a zombie until reaped) or is gone
            return False

    deadline = time.monotonic() + 120
    while not (jobs := [c for c in driver.children() if is_job(c)]):
        assert time.monotonic() < deadline and sweep_process.poll() is None, "no job was forked"
        time.sleep(0.05)
    time.sleep(1)
    jobs[0].kill()
    out, err = sweep_process.communicate(timeout=600)
    assert sweep_process.returncode != 0
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "killed by SIGKILL" in errors[0], err[-3000:]
    summary = pd.read_csv(tmp_path / "multirun" / "summary.csv")
    assert sorted(summary["status"]) == ["completed", "failed"]
    assert "killed by SIGKILL" in summary.loc[summary["status"] == "failed", "error"].iloc[0]


@slow
@pytest.mark.parametrize(
    "launcher",
    [["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], LAUNCHERS["olist_fork"]],
    ids=["joblib", "olist_fork"],
)
def test_parallel_jobs(tmp_path, tiny_data, two_model_sweep, launcher):
    """Two jobs at once against one local ZenML/MLflow store (joblib: worker processes; olist_fork: children
    forked from the sweep's process after it opened both stores): the stores were created before the
    jobs started (the sweep callback), and stack set-up is serialised, so both jobs complete, with the
    metrics of the same jobs run sequentially, one parent run closed once with both jobs under it."""
    result = sweep(
        tmp_path, tmp_path / "multirun", f"dataset.path={tiny_data}", "evaluation.report=false",
        "promotion.enabled=false", *launcher, "model=linear_regression,ridge",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "multirun" / "summary.csv")
    assert list(summary["status"]) == ["completed", "completed"]
    assert len(re.findall(r"sweep ranked by test rmse \(2 jobs\)", result.stdout)) == 1  # by the driver only
    if "olist_fork" in " ".join(launcher):  # the two jobs' pipeline runs overlapped in time
        assert "cannot fork" not in result.stderr
        (first_start, first_end), (second_start, _) = pipeline_run_times(tmp_path)
        assert second_start < first_end, "the jobs ran one after another"
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("olist_review_score").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("olist.sweep") == "parent")
    assert parent.info.status == "FINISHED" and parent.data.metrics["jobs"] == 2
    children = {r.info.run_id for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert children == set(summary["mlflow_run"])
    # same metrics as the sequential sweep of the same jobs (same seed)
    _, sequential_dir, sequential = two_model_sweep
    assert sequential.returncode == 0, sequential.stdout[-3000:] + sequential.stderr[-3000:]
    expected = pd.read_csv(sequential_dir / "summary.csv").set_index("overrides")
    got = summary.set_index("overrides")
    for column in ("rmse", "mae", "r2"):
        assert got[column].to_dict() == pytest.approx(expected.loc[got.index, column].to_dict(), abs=1e-12)


PRELOAD_PROBE = """
import sys
from omegaconf import OmegaConf
from olist_pipeline.app.sweep import preload_jobs

preload_jobs([OmegaConf.create({"evaluation": {"report": False}})] * 2)
print("lean", "skops.io" in sys.modules, "zenml.client" in sys.modules, "matplotlib.pyplot" in sys.modules,
      "zenml.integrations.airflow.flavors" in sys.modules)
preload_jobs([OmegaConf.create({"evaluation": {"report": False}}), OmegaConf.create({"evaluation": {"report": True}})])
print("report", "matplotlib.pyplot" in sys.modules)
"""


@slow
def test_forked_jobs_preload_only_what_the_jobs_import(tmp_path):
    """olist_fork imports what the jobs will import before forking them; not the report's plotting
    libraries when no job draws its report, and never ZenML's flavor classes (only creating a ZenML
    store imports them; the sweep's store exists by then): each cost the serial start of a sweep 0.2 s."""
    script = tmp_path / "probe.py"  # a file: ZenML takes the main module's directory as its source root
    script.write_text(PRELOAD_PROBE)
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml"), "ZENML_ANALYTICS_OPT_IN": "false"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "lean True True False False" in result.stdout, result.stdout
    assert "report True" in result.stdout, result.stdout


@slow
@pytest.mark.parametrize("launcher", ["basic", "olist_fork"])
def test_optuna_search_optimises_validation_never_test(tmp_path, tiny_data, launcher):
    """The search's trials one at a time, or two at a time in forked processes (the sweeper hands the
    launcher batches of `hydra.sweeper.n_jobs` trials and reads each trial's objective back)."""
    experiments = tmp_path / "experiment"
    parallel = [*LAUNCHERS[launcher], "hydra.sweeper.n_jobs=2"] if launcher != "basic" else []
    result = sweep(
        tmp_path, tmp_path / "multirun", f"dataset.path={tiny_data}", "hparams_search=hist_gradient_boosting_optuna",
        "hydra.sweeper.n_trials=3", f"hydra.callbacks.sweep.experiment_dir={experiments}", *parallel,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    if parallel:  # trials two at a time: the first two trials' pipeline runs overlapped in time
        assert "cannot fork" not in result.stderr
        (_, first_end), (second_start, _), _ = pipeline_run_times(tmp_path)
        assert second_start < first_end, "the trials ran one after another"
    from mlflow import MlflowClient
    from omegaconf import OmegaConf

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("olist_review_score").experiment_id])
    trials = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(trials) == 3
    for trial in trials:  # the test rows were never scored: no test metric exists for any trial
        assert "validation_rmse" in trial.data.metrics
        assert not [m for m in trial.data.metrics if m.startswith("test_")], trial.data.metrics
        assert trial.data.params["evaluation.split"] == "validation"
        assert float(trial.data.params["split.validation_size"]) > 0
    # the objective the sampler saw is the validation rmse
    best = OmegaConf.load(tmp_path / "multirun" / "optimization_results.yaml")
    assert best.best_value == pytest.approx(min(t.data.metrics["validation_rmse"] for t in trials))
    # the best parameters, as a ready-to-use experiment that trains and scores on the test split
    written = experiments / "hist_gradient_boosting_optuna_best.yaml"
    assert written.read_text().startswith("# @package _global_")
    from olist_pipeline.config.compose import compose_spec
    from olist_pipeline.config.compose import compose_config

    spec, _, _ = compose_spec(compose_config([f"hydra.searchpath=[file://{tmp_path}]", f"experiment={written.stem}"]))
    assert spec.model.name == "hist_gradient_boosting" and spec.evaluation.split == "test"
    for dotted, value in best.best_params.items():
        assert spec.model.params[dotted.removeprefix("model.")] == value
    assert 0.01 <= spec.model.params["learning_rate"] <= 0.3


@slow
def test_sweep_on_a_local_slurm_cluster(tmp_path, tiny_data):
    """The same sweep through hydra-submitit-launcher to a real one-node SLURM cluster on 127.0.0.1."""
    script = [sys.executable, str(Path(__file__).resolve().parents[2] / "scripts" / "slurm_local.py")]
    cluster = tmp_path / "slurm"
    up = subprocess.run([*script, "up", "--dir", str(cluster)], capture_output=True, text=True, timeout=600)
    if up.returncode != 0 and os.geteuid() != 0:
        pytest.skip(f"a local SLURM cluster needs root here: {up.stderr.strip()}")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        env_conf = {"SLURM_CONF": str(cluster / "slurm.conf")}
        os.environ.update(env_conf)
        result = sweep(
            tmp_path, tmp_path / "multirun", f"dataset.path={tiny_data}", "evaluation.report=false",
            "promotion.enabled=false", "hydra/launcher=olist_slurm", "model=linear_regression,ridge",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        summary = pd.read_csv(tmp_path / "multirun" / "summary.csv")
        assert list(summary["status"]) == ["completed", "completed"]
        # each job ran as a SLURM job (submitit's folder holds one result per array task) ...
        assert len(list((tmp_path / "multirun" / ".submitit").glob("*/*_result.pkl"))) == 2
        # ... and its MLflow run exists, a child of the sweep's parent run
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow/mlflow.db")
        runs = client.search_runs([client.get_experiment_by_name("olist_review_score").experiment_id])
        parent = next(r for r in runs if r.data.tags.get("olist.sweep") == "parent")
        children = {r.info.run_id for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
        assert children == set(summary["mlflow_run"])
    finally:
        os.environ.pop("SLURM_CONF", None)
        subprocess.run([*script, "down", "--dir", str(cluster)], capture_output=True, text=True, timeout=120)
    # `down` leaves no process of the cluster behind (the jobs' step daemons outlived slurmd before)
    assert load_script("slurm_local").step_daemons(cluster / "slurm.conf") == []
