"""scripts/bench.py: its section of BENCHMARKS.md, and one real round of its measurements."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from olist_pipeline.domain.data.synthetic import generate_merged
from olist_pipeline.paths import PROJECT_ROOT

from tests.conftest import load_script


def test_section_replaced_between_its_markers_only():
    bench = load_script("bench")
    text = "# Benchmarks\n\nintro\n<!-- a:start -->\nold\n<!-- a:end -->\n<!-- b:start -->\nkeep\n<!-- b:end -->\n"
    new = bench.replace_section(text, "<!-- a:start -->\nnew\n<!-- a:end -->", "<!-- a:start -->", "<!-- a:end -->")
    assert "new" in new and "old" not in new and "keep" in new and "intro" in new
    added = bench.replace_section("# Benchmarks\n", "<!-- c:start -->\nc\n<!-- c:end -->", "<!-- c:start -->", "<!-- c:end -->")
    assert added.endswith("<!-- c:start -->\nc\n<!-- c:end -->\n")


def test_every_section_states_the_machine_and_how_fast_it_was():
    bench = load_script("bench")
    line = bench.machine_line(0.7234, 0.81)
    assert f"{os.cpu_count()} cores (" in line and bench.cpu_model() in line
    assert "0.72 s at the start, 0.81 s at the end" in line
    assert 0.0 < bench.speed_reference(repeats=1) < 60.0  # a real interpreter, timed
    sweep, serving = load_script("bench_sweep"), load_script("bench_serving")
    assert line in sweep.environment_line(0.7234, 0.81)
    assert line in serving.environment_line(0.7234, 0.81, "0.5, 0.5, 0.5")


@pytest.mark.slow
def test_plain_script_times_each_phase_under_the_pipeline_step_names(tmp_path):
    bench = load_script("bench")
    timings = tmp_path / "phases.json"
    subprocess.run(
        [sys.executable, "scripts/plain_baseline.py", "--timings", str(timings)], cwd=PROJECT_ROOT, check=True, capture_output=True
    )
    phases = json.loads(timings.read_text())
    assert set(phases) == set(bench.STEPS) - {"promote"}  # the plain script has no gate
    assert all(v >= 0 for v in phases.values()) and phases["train"] > 0


ENV = {**os.environ, "ZENML_ANALYTICS_OPT_IN": "false", "OLIST_RESIDENT": "off"}


@pytest.fixture
def tiny_orders(tmp_path):
    data = tmp_path / "orders.csv"
    generate_merged(400, seed=3).to_csv(data, index=False)
    return data


@pytest.mark.slow
def test_one_round_measures_every_kind_and_splits_the_steps(tmp_path, tiny_orders):
    bench = load_script("bench")
    runner_env, _, runner_pid = bench.start_runner(tmp_path / "runner", ENV)
    try:
        assert bench.rss_mb(runner_pid) > 100
        result = bench.bench_size(tiny_orders, 1, tmp_path, ENV, runner_env)
    finally:
        subprocess.run([sys.executable, "-m", "olist_pipeline.speed.resident", "stop"], env=runner_env, check=True)
    medians = result["medians"]
    assert set(medians) == set(bench.KINDS)
    assert all(wall > 0 and rss > 0 for wall, rss in medians.values())
    # answered from the record: no ZenML start-up, so well under the cold run
    assert medians["identical re-run"][0] < medians["pipeline cold"][0] / 2
    steps = result["steps"]
    assert set(steps) == {*bench.STEPS, "run", "between", "outside"}
    assert steps["run"] >= sum(steps[s] for s in bench.STEPS) * 0.9
    # remainders taken per round: never negative, and the run plus what is outside it is the whole process
    assert steps["between"] >= 0 and 0 < steps["outside"] < result["cold"]
    assert steps["run"] + steps["outside"] == pytest.approx(result["cold"])
    lines = bench.step_table("tiny", result)
    assert any(line.startswith("| train |") for line in lines)
    # the runner's children skip the imports: faster than the same kind in a process of its own
    assert medians["runner warm"][0] < medians["pipeline warm"][0]
    assert bench.runner_table({"tiny": result}, {"tiny": 400})[2].startswith("| tiny | 400 |")
    header, _, row = bench.overhead_table({"tiny": result}, {"tiny": 400})
    assert row.startswith("| tiny | 400 |") and row.count("|") == header.count("|")


@pytest.mark.slow
def test_profile_of_a_cold_run_accounts_for_its_parts(tmp_path, tiny_orders):
    bench = load_script("bench")
    lines = bench.profile_cold_run(tiny_orders, tmp_path / "home", ENV)
    shares = [int(line.rsplit("|", 2)[1].strip().rstrip("%")) for line in lines[2:]]
    assert len(shares) == len(bench.PROFILE_PARTS) + 1
    assert all(0 <= s <= 100 for s in shares) and 95 <= sum(shares) <= 105
    assert shares[len(bench.PROFILE_PARTS) - 1] > 10  # the steps themselves are a real part of it
    assert all(share > 0 for share in shares[: len(bench.PROFILE_PARTS)])  # every pattern still matches the code


def test_overhead_profile_charges_imports_to_the_outermost_library(tmp_path):
    """An import is charged to the outermost third-party module being imported (not the project's own,
    nor the script's); other samples go by `classify` (MLflow anywhere, else the innermost library)."""
    bench = load_script("bench")
    load = "_find_and_load (<frozen importlib._bootstrap>:1176)"
    raw = tmp_path / "raw.txt"
    raw.write_text("\n".join([
        f"<module> (olist_pipeline/__main__.py:1);{load};<module> (zenml/client.py:3);{load};<module> (pydantic/main.py:9) 40",
        f"<module> (/abs/scripts/plain_baseline.py:1);{load};<module> (sklearn/__init__.py:1);{load};<module> (scipy/stats.py:2) 20",
        f"train (olist_pipeline/steps/training.py:60);{load};<module> (skops/io/__init__.py:1) 10",
        f"train (olist_pipeline/steps/training.py:60);{load};<module> (json/__init__.py:1) 5",
        "train (olist_pipeline/steps/training.py:60);dumps (skops/io/_persist.py:112) 3",
        "train (olist_pipeline/steps/training.py:60);log_model (mlflow/sklearn/__init__.py:1);execute (sqlalchemy/engine/base.py:1) 8",
        "launch (zenml/orchestrators/step_launcher.py:1);execute (sqlalchemy/engine/base.py:1) 6",
    ]) + "\n")  # fmt: skip
    seconds = bench.cpu_by_category(raw, rate=10)
    assert seconds == {"imports: ZenML": 4.0, "imports: scikit-learn": 2.0, "imports: skops": 1.0, "imports: other": 0.5,
                       "skops (model serialisation)": 0.3, "MLflow (runs, model logging)": 0.8,
                       "SQL stores (SQLAlchemy)": 0.6}  # fmt: skip


@pytest.mark.slow
def test_overhead_profile_of_the_plain_script_and_a_cold_run(tmp_path, tiny_orders):
    bench = load_script("bench")
    lines = bench.profile_overhead(tiny_orders, tmp_path / "home", ENV, rate=50)
    rows = {line.split("|")[1].strip(): [float(c) for c in line.split("|")[2:5]] for line in lines if line.startswith("| ")
            and not line.startswith("| category")}  # fmt: skip
    plain, cold, difference = rows["*total on a CPU*"]
    assert 0 < plain < cold and difference == pytest.approx(cold - plain, abs=0.02)
    assert rows["imports: ZenML"][0] == 0 < rows["imports: ZenML"][1]  # the plain script imports no ZenML
    assert rows["imports: scikit-learn"][0] > 0  # it does import scikit-learn
    assert rows["MLflow (runs, model logging)"][1] > 0


def test_sweep_table_shows_the_bound_of_two_perfect_workers():
    sweep = load_script("bench_sweep")
    sequential = {"wall": 30.0, "load": 1.0, "first_job_start": 10.0, "after_last_job": 4.0, "mean_job": 4.0,
                  "data_computed": 1, "cpu": 40.0, "jobs": [{"train_step": 2.0}] * 4}  # fmt: skip
    joblib = {**sequential, "wall": 25.0, "cpu": 45.0}
    text = sweep.render([{"label": "tiny", "variants": [("sequential", [sequential]), ("joblib", [joblib])]}], 1, "Machine: x")
    assert "| tiny | joblib | 25.0 | 25.0 | 1.20x | 10.0 | 4.0 | 2.0 | 4.0 | 1/4 | 45.0 | 1.80 | 1.0 |" in text
    # 14 s outside the jobs, 16 s of jobs: 30 / (14 + 8)
    assert "tiny: 30.0 s = 14.0 s outside the jobs + 16.0 s of jobs; halving the jobs gives at most 1.36x" in text
    # 40 CPU-seconds on all the cores: at least 40 / cores seconds
    cores = os.cpu_count()
    assert f"its 40.0 CPU-seconds on {cores} cores take at least {40 / cores:.1f} s, so at most {30 / (40 / cores):.2f}x" in text


@pytest.mark.slow
def test_one_sweep_is_measured_from_its_stores(capsys):
    sweep = load_script("bench_sweep")
    assert sweep.main(["--repeats", "1", "--sizes", "sample", "--variants", "sequential,fork2_runner", "--no-write"]) == 0
    out = capsys.readouterr()
    rows = [line for line in out.out.splitlines() if line.startswith("| embedded sample")]
    assert len(rows) == 2 and "olist_fork, 2 jobs at once, through the resident runner" in rows[1]
    computed = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        computed.append(cells[9])
        assert 0 < float(cells[5]) < float(cells[2]) and float(cells[8]) >= 0
    assert computed[0] == "1/4"  # one job computed the data, three took it from the cache
    assert computed[1] in ("1/4", "2/4")  # the first two jobs start together: both may compute it
    assert rows[0].split("|")[5].strip() == "1.00x"
    assert "resident runner ready" in out.err
    assert "halving the jobs gives at most" in out.out


def test_a_sweep_profile_is_split_by_process_and_category(tmp_path):
    """py-spy's raw lines: the chain of processes (one: the sweep's; two: a forked job), frames, count."""
    sweep = load_script("bench_sweep")
    driver, job = 'process 10:"python -m olist_pipeline -m"', 'process 11:"python -m olist_pipeline -m"'
    raw = tmp_path / "raw.txt"
    raw.write_text("\n".join([
        f"{driver};<module> (x.py:1);_find_and_load (<frozen importlib._bootstrap>:1165);exec (zenml/client.py:3) 50",
        f"{driver};<module> (x.py:1);run (olist_pipeline/app/cli.py:9);compose (hydra/_internal/x.py:2) 5",
        f"{driver};{job};run_forked (olist_pipeline/forkpool.py:90);train (olist_pipeline/steps/training.py:24);"
        "fit (sklearn/ensemble/gb.py:841);asarray (numpy/core.py:1) 25",
        f"{driver};{job};train (olist_pipeline/steps/training.py:24);log_model (mlflow/sklearn/__init__.py:393);"
        "execute (sqlalchemy/engine/base.py:1420) 10",
        f"{driver};{job};store (zenml/orchestrators/step_runner.py:724);execute (sqlalchemy/engine/base.py:1420) 15",
    ]) + "\n")  # fmt: skip
    shares = sweep.profile_shares(raw, rate=50)
    assert shares["imports"] == {"sweep process": 1.0, "jobs": 0.0}
    assert shares["Hydra/OmegaConf"]["sweep process"] == 0.1
    assert shares["numpy"]["jobs"] == 0.5  # the innermost library's frame: self time
    assert shares["MLflow (runs, model logging)"]["jobs"] == 0.2  # MLflow anywhere in the stack
    assert shares["SQL stores (SQLAlchemy)"]["jobs"] == 0.3
    text = sweep.render_profile([("olist_fork", 3.0, shares)])
    assert "| imports | 1.0 | 0.0 |" in text and "| *total on a CPU* | 1.1 | 1.0 |" in text


@pytest.mark.slow
def test_one_sweep_is_profiled_with_its_forked_jobs(capsys):
    sweep = load_script("bench_sweep")
    assert sweep.main(["--profile-only", "--profile-variants", "fork2", "--no-write"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in out.splitlines() if line.startswith("| ")}
    # the sweep's process imports; its forked jobs train, log to MLflow and write the stores
    assert float(rows["imports"][0]) > 1
    assert float(rows["MLflow (runs, model logging)"][1]) > 0.5
    assert float(rows["*total on a CPU*"][1]) > float(rows["*total on a CPU*"][0]) / 4
