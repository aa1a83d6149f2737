"""`hydra/launcher=olist_fork` with a tiny Hydra app (no ZenML, no MLflow: fast): jobs in forked processes,
n_jobs at a time, failures reported per job, and the fallback when the sweep's process cannot fork. The
real sweeps through it are in tests/e2e/test_sweep.py (and tests/e2e/test_prod_stack.py on the server stack)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from olist_pipeline.paths import CONF_DIR

APP = textwrap.dedent(
    """
    import os, threading, time
    from pathlib import Path

    import hydra
    from hydra.experimental.callback import Callback


    class StrayThread(Callback):  # a sweep process that runs another thread cannot fork safely
        def on_multirun_start(self, config, **kwargs):
            threading.Thread(target=time.sleep, args=(30,), name="stray", daemon=True).start()


    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        if cfg.x == "die":
            os.kill(os.getpid(), 9)
        if cfg.x == "fail":
            raise ValueError("x must not be fail")
        start = time.time()
        time.sleep(0.6)
        Path(cfg.out, str(cfg.x)).write_text(f"{os.getpid()} {start} {time.time()} {os.environ.get('OMP_NUM_THREADS')}")


    if __name__ == "__main__":
        (Path(os.environ["APP_OUT"]) / "driver").write_text(str(os.getpid()))
        main()
    """
)


def run_app(tmp_path: Path, *overrides: str) -> tuple[subprocess.CompletedProcess[str], dict[str, list[float]], int]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    args = [sys.executable, str(app), "-m", f"hydra.searchpath=[file://{CONF_DIR}]", "hydra/launcher=olist_fork",
            f"hydra.sweep.dir={tmp_path / 'multirun'}", "hydra.launcher.preload=false", f"+out={out}", *overrides]  # fmt: skip
    env = {**os.environ, "APP_OUT": str(out), "HYDRA_FULL_ERROR": "0"}
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    jobs = {p.name: [float(v) for v in p.read_text().split()[:3]] for p in out.iterdir() if p.name != "driver"}
    return result, jobs, int((out / "driver").read_text())


def most_at_once(spans: list[list[float]]) -> int:
    return max(sum(1 for _, s, e in spans if s <= start < e) for _, start, _ in spans)


def test_jobs_run_in_forked_processes_n_jobs_at_a_time(tmp_path):
    result, jobs, driver = run_app(tmp_path, "+x=a,b,c,d", "hydra.launcher.n_jobs=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(jobs) == ["a", "b", "c", "d"]
    pids = {int(span[0]) for span in jobs.values()}
    assert driver not in pids and len(pids) == 4
    assert most_at_once(list(jobs.values())) == 2
    # Hydra's job folders, numbered as the basic launcher numbers them
    assert sorted(p.name for p in (tmp_path / "multirun").iterdir() if p.is_dir()) == ["0", "1", "2", "3"]
    assert "cannot fork" not in result.stderr


def test_one_job_at_a_time_with_n_jobs_1(tmp_path):
    result, jobs, _ = run_app(tmp_path, "+x=a,b,c", "hydra.launcher.n_jobs=1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert most_at_once(list(jobs.values())) == 1


def test_failed_and_killed_jobs_are_reported_and_the_others_run(tmp_path):
    result, jobs, _ = run_app(tmp_path, "+x=a,fail,die,b", "hydra.launcher.n_jobs=2")
    assert result.returncode != 0
    assert sorted(jobs) == ["a", "b"]  # the other jobs of the batch ran
    # Hydra raises the first failed job's error after the batch, as with its basic launcher
    assert "x must not be fail" in result.stderr


def test_a_killed_job_names_its_signal(tmp_path):
    result, jobs, _ = run_app(tmp_path, "+x=a,die", "hydra.launcher.n_jobs=2")
    assert result.returncode != 0 and sorted(jobs) == ["a"]
    assert re.search(r"job #1 \(.*\+x=die\): the job's process was killed by SIGKILL before it returned a result", result.stderr)


def test_a_process_with_other_threads_runs_the_jobs_one_after_another(tmp_path):
    result, jobs, driver = run_app(tmp_path, "+x=a,b", "hydra.launcher.n_jobs=2",
                                   "+hydra.callbacks.stray._target_=__main__.StrayThread")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warning: hydra/launcher=olist_fork cannot fork here (1 other thread(s) running (stray))" in result.stderr
    assert {int(span[0]) for span in jobs.values()} == {driver}  # in the sweep's own process
    assert most_at_once(list(jobs.values())) == 1


def test_jobs_get_cpus_over_n_jobs_threads():
    """The launcher's defaults (forkpool's test checks that a child's OpenMP pool gets the limit)."""
    from hydra_plugins.olist_launcher.fork_launcher import OlistForkLauncher

    cpus = os.cpu_count() or 1
    assert OlistForkLauncher(n_jobs=2).inner_threads == max(1, cpus // 2)
    assert OlistForkLauncher().n_jobs == cpus and OlistForkLauncher().inner_threads == 1
    assert OlistForkLauncher(n_jobs=1, inner_threads=3).inner_threads == 3
