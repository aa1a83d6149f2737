"""Reproduce, compare and resume end to end: the real CLI, ZenML, MLflow and git.

The reproduce and compare jobs run in a git repository made of this working tree (one commit, clean), so
the commit a version records exists there and a worktree of it can be checked out; the package is
imported from that repository (PYTHONPATH), and its ZenML/MLflow home is a temporary one. Training runs
in total: two versions, two re-runs, and the four jobs of a sweep on a small table.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from olist_pipeline.app.sweep import completed_job, latest_per_job
from olist_pipeline.domain.data.synthetic import generate_merged
from olist_pipeline.paths import PROJECT_ROOT

slow = pytest.mark.slow
MODEL = "olist_review_score_dev"  # +env=dev
RUN = ("+env=dev", "evaluation.report=false")


def make_repository(root: Path) -> Path:
    """A git repository whose one commit is this working tree: tracked and untracked files, not ignored ones."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", "snapshot"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def environment(repo: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "ZENML_ANALYTICS_OPT_IN": "false", "COLUMNS": "200", "OLIST_RESIDENT": "off"}
    env.pop("HYDRA_FULL_ERROR", None)
    if repo is not None:
        env["PYTHONPATH"] = str(repo)
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """(repository, state dir, data file): the repository's code, its own stores, a small table outside it."""
    base = tmp_path_factory.mktemp("reproduce")
    repo = make_repository(base / "olist")
    data = base / "orders.csv"
    generate_merged(700, seed=11).to_csv(data, index=False)
    return repo, base / "state", data


def olist(project, *overrides: str) -> subprocess.CompletedProcess[str]:
    """`python -m olist_pipeline` from the repository's code, on its own stores."""
    repo, state, data = project
    args = [sys.executable, "-m", "olist_pipeline", *RUN, f"paths.state_dir={state}", *overrides]
    return subprocess.run(args, cwd=repo, env=environment(repo), capture_output=True, text=True, timeout=900)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    return result.stdout


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr, result.stderr[-4000:]
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def mlflow_client(project):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project[1]}/mlflow/mlflow.db")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def seeded(project):
    """v1: gradient boosting with random_state=42 (the default): deterministic."""
    return ok(olist(project, f"dataset.path={project[2]}"))


@pytest.fixture(scope="module")
def reproduced(project, seeded):
    return olist(project, "pipeline=reproduce", "model_version=1")


@pytest.fixture(scope="module")
def unseeded(project, reproduced):
    """v2: a random forest without a seed (bootstrap rows and split features differ from fit to fit)."""
    return ok(olist(project, f"dataset.path={project[2]}", "model=random_forest", "model.random_state=null", "model.n_estimators=20"))


@slow
def test_a_seeded_version_is_reproduced(project, reproduced):
    out = ok(reproduced)
    assert re.search(r"^reproduced\s+yes$", out, re.M), out
    for check in ("metric rmse", "metric r2", "metric low_score_recall"):
        assert re.search(rf"│ {check}\s+│\s+[0-9.]+ │\s+[0-9.]+ │ 0 +│ yes", out), out
    assert re.search(r"│ predictions\s+│\s+\d+ test rows │ .* │ max abs 0 +│ yes", out), out
    assert re.search(r"│ params .*│ none +│ yes", out) and "same rows in each partition" in out
    # re-run from a worktree of the recorded commit, into a scratch store, both removed afterwards
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project[0], capture_output=True, text=True).stdout.strip()
    worktree = Path(re.search(rf"^re-training\s+v1 from commit {commit[:12]} in (\S+) ", out, re.M).group(1))
    assert not worktree.parent.exists()
    listed = subprocess.run(["git", "worktree", "list"], cwd=project[0], capture_output=True, text=True).stdout
    assert len(listed.splitlines()) == 1, listed
    assert "promotion.enabled=false" in out and f"dataset.sha256={sha256(project[2])}" in out
    # the verdict is recorded on v1, on both sides; nothing else changed in the registry
    client = mlflow_client(project)
    version = client.get_model_version(MODEL, "1")
    assert re.fullmatch(r"yes, checked \d{4}-\d\d-\d\d \d\d:\d\d", version.tags["reproduced"])
    assert client.get_run(version.run_id).data.tags["reproduced"] == version.tags["reproduced"]
    assert [str(v.version) for v in client.search_model_versions(f"name='{MODEL}'")] == ["1"]
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    lineage = ok(olist(project, "pipeline=lineage", "model_version=1"))
    assert re.search(r"^reproduced\s+yes, checked \d{4}-", lineage, re.M), lineage
    assert re.search(r"^libraries\s+python==\S+ scikit-learn==", lineage, re.M), lineage


@pytest.fixture(scope="module")
def unseeded_reproduced(project, unseeded):
    return olist(project, "pipeline=reproduce", "model_version=2")


@slow
def test_an_unseeded_version_is_not_reproduced_and_the_differences_are_listed(project, unseeded_reproduced):
    result = unseeded_reproduced
    (line,) = error_lines(result)
    assert line.startswith(f"error: {MODEL} v2 was not reproduced: "), line
    assert re.search(r"\d+ of \d+ metrics differ \(.*rmse.*; largest difference [0-9.e-]+\); predictions differ: max abs [0-9.]+", line), line
    out = result.stdout
    assert re.search(r"│ metric rmse\s+│\s+[0-9.]+ │\s+[0-9.]+ │ [0-9.e-]+ +│ no", out), out
    assert re.search(r"│ predictions .* │ max abs [0-9.e-]+ +│ no", out), out
    assert "same rows in each partition" in out  # the split is seeded: only the model differs
    tags = mlflow_client(project).get_model_version(MODEL, "2").tags
    assert tags["reproduced"].startswith("no, checked ")


@slow
def test_compare_shows_the_keys_that_differ_and_both_scores_on_the_same_rows(project, unseeded, unseeded_reproduced):
    out = ok(olist(project, "pipeline=compare", "a=1", "b=2"))
    for key in ("model._target_", "model.name", "model.random_state", "model.n_estimators"):
        assert re.search(rf"│ {re.escape(key)}\s+│", out), out
    assert not re.search(r"│ (dataset\.path|split\.seed|paths\.state_dir)\s+│", out)  # same in both: not listed
    assert re.search(r"│ sha256\s+│ [0-9a-f]{16}\s+│ [0-9a-f]{16} \(same\)", out), out
    assert "same commit" in out
    rows = int(re.search(r"scores on v2's test rows \((\d+) rows\)", out).group(1))
    v1_rmse, v2_rmse = re.search(r"│ rmse\s+│ ([0-9.]+) │ ([0-9.]+) │", out).groups()
    assert v1_rmse != v2_rmse
    # b scored on its own test rows is b's recorded test metric
    assert v2_rmse == re.search(r"│ rmse\s+│ ([0-9.]+) │", unseeded).group(1)
    assert re.search(r"^gate v1 .*promoted", out, re.M) and re.search(r"^gate v2 ", out, re.M)
    logged = re.search(r"^logged\s+runs:/(\w+)/(compare/v1_vs_v2\.md)", out, re.M)
    client = mlflow_client(project)
    assert logged.group(1) == client.get_model_version(MODEL, "2").run_id
    page = Path(client.download_artifacts(logged.group(1), logged.group(2), str(project[1] / "download"))).read_text()
    assert page.startswith(f"# {MODEL}: v1 vs v2") and f"## Scores on v2's test rows ({rows} rows)" in page
    assert f"| rmse | {v1_rmse} | {v2_rmse} |" in page and "| model.name | hist_gradient_boosting | random_forest |" in page


@slow
def test_changed_data_is_refused_naming_the_file_and_both_hashes(project, seeded, unseeded_reproduced):
    data = project[2]
    before = sha256(data)
    with open(data, "a") as handle:
        handle.write(data.read_text().splitlines()[-1] + "\n")
    result = olist(project, "pipeline=reproduce", "model_version=1")
    assert error_lines(result) == [
        f"error: {MODEL} v1: the data changed since training: {data} had sha256 {before}, now {sha256(data)}"
    ]
    assert "re-training" not in result.stdout


@slow
def test_a_commit_the_repository_does_not_have_is_refused(project, seeded, unseeded_reproduced):
    repo = project[0]
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    for args in (["commit", "--amend", "-qm", "history rewritten"], ["reflog", "expire", "--expire=now", "--all"], ["gc", "-q", "--prune=now"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    assert subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=repo).returncode != 0
    result = olist(project, "pipeline=reproduce", "model_version=1")
    assert error_lines(result) == [
        f"error: {MODEL} v1 was trained from commit {commit[:12]}, which the repository at {repo} does not have "
        "(git fetch it, or reproduce from a clone that has it)"
    ]


# --- resuming a sweep ------------------------------------------------------------------------------
def test_a_resumed_job_is_found_by_its_identity_and_the_summary_keeps_its_last_row(tmp_path):
    rows = [
        {"job": 0, "status": "completed", "run_key": "k0", "mlflow_run": "m0"},
        {"job": 1, "status": "failed", "error": "killed"},
        {"job": 1, "status": "completed", "run_key": "k1", "mlflow_run": "m1"},
    ]
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert completed_job(tmp_path, "k1")["mlflow_run"] == "m1"
    assert completed_job(tmp_path, "k2") is None
    assert completed_job(tmp_path, "k0", lambda row: False) is None  # its runs are gone: run it again
    assert completed_job(tmp_path, "k0", lambda row: None)["job"] == 0  # cannot tell: trust the sweep's record
    assert [(r["job"], r["status"]) for r in latest_per_job(rows)] == [(0, "completed"), (1, "completed")]


def training_runs(state: Path) -> int:
    with sqlite3.connect(state / "zenml" / "local_stores" / "default_zen_store" / "zenml.db") as db:
        return db.execute("select count(*) from pipeline_run where name like 'olist-%'").fetchone()[0]


@slow
def test_an_interrupted_sweep_resumed_runs_only_the_unfinished_jobs(tmp_path):
    data = tmp_path / "orders.csv"
    generate_merged(700, seed=11).to_csv(data, index=False)
    sweep_dir, state = tmp_path / "multirun", tmp_path / "state"
    args = [sys.executable, "-m", "olist_pipeline", "-m", f"paths.state_dir={state}", f"hydra.sweep.dir={sweep_dir}",
            f"dataset.path={data}", "evaluation.report=false", "promotion.enabled=false",
            "model=ridge,linear_regression", "features=seed,delivery"]  # fmt: skip
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/", env=environment())
    jobs = sweep_dir / "jobs.jsonl"
    deadline = time.monotonic() + 600
    while not (jobs.exists() and len(jobs.read_text().splitlines()) >= 2):
        assert first.poll() is None and time.monotonic() < deadline, "the sweep ended before two jobs completed"
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)  # the launcher is killed: no summary, the parent run left RUNNING
    first.communicate(timeout=60)
    done_first = [json.loads(line) for line in jobs.read_text().splitlines()]
    assert [r["status"] for r in done_first] == ["completed", "completed"]
    parent = json.loads((sweep_dir / "sweep.json").read_text())["parent_run_id"]
    runs_before = training_runs(state)

    second = subprocess.run(args, capture_output=True, text=True, cwd="/", env=environment(), timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert training_runs(state) - runs_before == 2  # only the two unfinished jobs ran
    assert len(re.findall(r"^job #\d resumed: completed earlier in this sweep", second.stdout, re.M)) == 2
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert len(summary) == 4 and list(summary["status"]).count("resumed") == 2
    assert set(summary["status"]) <= {"resumed", "completed", "cached"}  # cached: killed after its fit was stored
    resumed = summary[summary["status"] == "resumed"]
    assert set(resumed["mlflow_run"]) == {r["mlflow_run"] for r in done_first}
    assert re.search(r"sweep ranked by test rmse \(4 jobs\)", second.stdout)
    # one parent run, reopened and closed, with the four jobs' runs under it
    assert json.loads((sweep_dir / "sweep.json").read_text())["parent_run_id"] == parent
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{state}/mlflow/mlflow.db")
    experiment = client.get_experiment_by_name("olist_review_score").experiment_id
    children = client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    finished = {r.info.run_id for r in children if r.info.status == "FINISHED"}
    assert finished == set(summary["mlflow_run"])
    assert all(r.info.status in ("FINISHED", "KILLED") for r in children)  # the job killed mid-run: KILLED
    assert client.get_run(parent).info.status == "FINISHED" and client.get_run(parent).data.metrics["jobs"] == 4
