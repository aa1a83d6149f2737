"""Wall time of a 4-job sweep: Hydra's sequential launcher vs 2 jobs at once (the joblib launcher's workers;
the project's olist_fork launcher, jobs forked from the sweep's process), each also through a resident runner.

Every sweep is a whole `python -m olist_pipeline -m ...` process in a fresh temporary state dir (new
stores from the store templates, built once beforehand; nothing cached), variants alternate within each repeat, and the median is reported, at two data
sizes: the embedded sample and a larger synthetic file from the project's generator (written to a
temporary dir, removed afterwards). From each sweep's ZenML store it also reads where the time went: the
time before the first job's pipeline run started (imports, stack set-up, worker start-up), each job's run,
and whether its data steps (ingest..split) were computed or came from the cache, and the CPU time of the
sweep's processes. Writes its section of BENCHMARKS.md between the `bench-sweep` markers (the rest is
left alone). `--profile-only` instead runs one sweep of each of `--profile-variants` under `py-spy record
--subprocesses` and writes where the CPU time of the sweep's process and of its forked jobs goes
(`bench-sweep-profile` markers).

    python scripts/bench_sweep.py [--repeats 3] [--large-orders 80000] [--variants sequential,joblib2,fork2]
                                  [--sizes sample,large] [--no-write]
    python scripts/bench_sweep.py --profile-only [--profile-variants sequential,fork2] [--no-write]

The sweep: 4 learning rates of the default model (hist_gradient_boosting), `evaluation.report=false`.
Jobs of equal size (so 2 workers can split them evenly; a sweep over different models mixes 1 s and 30 s
fits, and the slowest one bounds the parallel run), the default model, and the one whose OpenMP threads
compete with a parallel worker's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import json
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import bench  # noqa: E402  (scripts/bench.py: the marked sections of BENCHMARKS.md)

BENCHMARKS = ROOT / "BENCHMARKS.md"
START, END = "<!-- bench-sweep:start -->", "<!-- bench-sweep:end -->"
SAMPLE = ROOT / "data" / "olist_sample.csv.gz"
SWEEP = ["model.learning_rate=0.03,0.05,0.1,0.2"]
COMMON = ["+env=dev", "evaluation.report=false"]
DATA_STEPS = ("ingest", "clean", "build_features", "split")

JOBLIB2 = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
FORK2 = ["hydra/launcher=olist_fork", "hydra.launcher.n_jobs=2"]
FORK1 = ["hydra/launcher=olist_fork", "hydra.launcher.n_jobs=1"]
RUNNER = "runner:"
#: name -> (label, extra overrides)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "sequential": ("sequential (basic launcher)", []),
    "sequential_omp1": ("sequential, OMP_NUM_THREADS=1", ["env:OMP_NUM_THREADS=1"]),
    "joblib2": ("joblib, 2 workers", JOBLIB2),
    "fork2": ("olist_fork, 2 jobs at once", FORK2),
    "fork1": ("olist_fork, 1 job at a time", FORK1),
    # the whole sweep process forked by a resident runner (olist_pipeline/speed/resident.py), started once, beforehand
    "sequential_runner": ("sequential, through the resident runner", [RUNNER]),
    "fork2_runner": ("olist_fork, 2 jobs at once, through the resident runner", [*FORK2, RUNNER]),
}


def sweep_env(templates: Path) -> dict[str, str]:
    """The sweeps' environment, with store templates of the benchmark's own, built here. A runner the user
    left running must not take the sweeps: only the variant through the benchmark's own runner uses one."""
    env = {**os.environ, "ZENML_ANALYTICS_OPT_IN": "false", "COLUMNS": "200", "OLIST_RESIDENT": "off",
           "OLIST_STORE_TEMPLATES": str(templates)}  # fmt: skip
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("HYDRA_FULL_ERROR", None)
    subprocess.run([sys.executable, "-m", "olist_pipeline.speed.store_templates"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    return env


def run_sweep(state: Path, data: Path, overrides: list[str], env: dict[str, str], runner_env: dict[str, str] | None = None,
              timeout: float = 3600) -> dict[str, Any]:  # fmt: skip
    """One whole sweep process; returns its wall time and the timeline read from its ZenML store."""
    if RUNNER in overrides:
        assert runner_env is not None, "this variant needs the benchmark's runner"
        env = runner_env
    through_runner = RUNNER in overrides
    env = dict(env)
    env.update(o.removeprefix("env:").split("=", 1) for o in overrides if o.startswith("env:"))  # type: ignore[misc]
    overrides = [o for o in overrides if not o.startswith("env:") and o != RUNNER]
    report = state.parent / f"{state.name}.report.json"
    if through_runner:  # the work happens in the runner's child: its CPU time comes back in this report
        env["OLIST_RESIDENT_REPORT"] = str(report)
    args = [
        sys.executable, "-m", "olist_pipeline", "-m", *COMMON, f"paths.state_dir={state}",
        f"hydra.sweep.dir={state / 'multirun'}", f"dataset.path={data}", *SWEEP, *overrides,
    ]  # fmt: skip
    load = os.getloadavg()[0]
    started_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"sweep failed ({result.returncode}): {(result.stdout + result.stderr)[-3000:]}")
    # CPU seconds of the sweep's whole process tree (its jobs included, once reaped)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if through_runner:
        cpu += json.loads(report.read_text())["cpu_s"]
        report.unlink()
    return {"wall": wall, "load": load, "cpu": cpu, **timeline(state, started_at, wall)}


def timeline(state: Path, started_at: dt.datetime, wall: float) -> dict[str, Any]:
    """Per job (training pipeline run): start and end (s after the process started), data steps cached?"""
    db = state / "zenml" / "local_stores" / "default_zen_store" / "zenml.db"
    with sqlite3.connect(db) as conn:
        runs = conn.execute(
            "select id, name, start_time, end_time from pipeline_run where name like 'olist-dev-%' order by start_time"
        ).fetchall()
        jobs = []
        for run_id, name, start, end in runs:
            steps = dict(conn.execute("select name, status from step_run where pipeline_run_id = ?", (run_id,)).fetchall())
            fit = conn.execute(
                "select start_time, end_time from step_run where pipeline_run_id = ? and name = 'train'", (run_id,)
            ).fetchone()
            jobs.append({
                "name": name,
                "start": _seconds(start, started_at), "end": _seconds(end, started_at),
                "train_step": _seconds(fit[1], started_at) - _seconds(fit[0], started_at) if fit else float("nan"),
                "data_cached": all(steps.get(s) == "cached" for s in DATA_STEPS),
            })  # fmt: skip
    with sqlite3.connect(state / "mlflow" / "mlflow.db") as conn:
        parent = conn.execute(
            "select r.start_time from runs r join tags t on t.run_uuid = r.run_uuid "
            "where t.key = 'olist.sweep' and t.value = 'parent'"
        ).fetchone()
    out: dict[str, Any] = {"jobs": jobs}
    if parent:  # the callback's set-up ends with the parent run
        out["parent_run"] = parent[0] / 1000 - started_at.replace(tzinfo=dt.timezone.utc).timestamp()
    if jobs:
        out["first_job_start"] = min(j["start"] for j in jobs)
        out["after_last_job"] = wall - max(j["end"] for j in jobs)
        out["mean_job"] = statistics.fmean(j["end"] - j["start"] for j in jobs)
        out["data_computed"] = sum(not j["data_cached"] for j in jobs)
    return out


def _seconds(timestamp: str | None, origin: dt.datetime) -> float:
    if not timestamp:
        return float("nan")
    return (dt.datetime.fromisoformat(timestamp) - origin).total_seconds()


def profile_shares(raw: Path, rate: int) -> dict[str, dict[str, float]]:
    """Seconds per category, for the sweep's own process and for its job processes, from py-spy's raw
    output (`process A;process B;frame;...;frame count` lines: one process in the chain is the sweep's,
    two are a job forked from it)."""
    seconds: dict[str, dict[str, float]] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        parts = stack.split(";")
        processes = [p for p in parts if p.startswith("process ")]
        frames = [p for p in parts if not p.startswith("process ")]
        who = "sweep process" if len(processes) <= 1 else "jobs"
        label = bench.classify(frames)
        seconds.setdefault(label, {"sweep process": 0.0, "jobs": 0.0})[who] += int(count) / rate
    return seconds


def run_profiled(variant: str, data: Path, env: dict[str, str], work: Path, rate: int = 50) -> tuple[float, dict[str, dict[str, float]]]:
    """One sweep of `variant` under `py-spy record --subprocesses` (every forked job followed)."""
    py_spy = bench.py_spy()
    if py_spy is None:
        raise SystemExit(f"--profile needs py-spy beside {sys.executable} (pip install py-spy; a dev dependency)")
    overrides = VARIANTS[variant][1]
    if RUNNER in overrides:
        raise SystemExit("--profile: a variant through the runner runs in the runner's child; profile the others")
    state, raw = work / f"profile-{variant}", work / f"profile-{variant}.txt"
    args = [str(py_spy), "record", "--subprocesses", "--format", "raw", "-r", str(rate), "-o", str(raw), "--",
            sys.executable, "-m", "olist_pipeline", "-m", *COMMON, f"paths.state_dir={state}",
            f"hydra.sweep.dir={state / 'multirun'}", f"dataset.path={data}", *SWEEP, *overrides]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True, timeout=1800)
    return time.perf_counter() - started, profile_shares(raw, rate)


def render_profile(profiles: list[tuple[str, float, dict[str, dict[str, float]]]], rate: int = 50) -> str:
    lines = ["### Where a sweep's time goes (`scripts/bench_sweep.py --profile-only`)", "",
             f"py-spy sampling every Python thread of the sweep's process and of each forked job ({rate} Hz, "
             "threads on a CPU only: waiting is not counted; OpenMP threads are native and not sampled, so a "
             "fit counts as its main thread). Seconds of samples per category: *imports* and *MLflow* anywhere "
             "in the stack, the rest by the innermost frame of a known library. The embedded sample; wall time "
             "under the profiler.", "",
             "| category | " + " | ".join(f"{label}: sweep process (s) | {label}: jobs (s)" for label, _, _ in profiles) + " |",
             "|---|" + "---:|---:|" * len(profiles)]  # fmt: skip
    labels = sorted({c for _, _, shares in profiles for c in shares},
                    key=lambda c: -sum(sum(s.get(c, {}).values()) for _, _, s in profiles))  # fmt: skip
    for category in labels:
        cells = []
        for _, _, shares in profiles:
            row = shares.get(category, {"sweep process": 0.0, "jobs": 0.0})
            cells += [f"{row['sweep process']:.1f}", f"{row['jobs']:.1f}"]
        lines.append(f"| {category} | " + " | ".join(cells) + " |")
    totals = []
    for _, _, shares in profiles:
        totals += [f"{sum(r['sweep process'] for r in shares.values()):.1f}", f"{sum(r['jobs'] for r in shares.values()):.1f}"]
    lines.append("| *total on a CPU* | " + " | ".join(totals) + " |")
    lines.append("| *wall (s)* | " + " | ".join(f"{wall:.1f} | " for _, wall, _ in profiles) + " |")
    return "\n".join(lines) + "\n"


def make_large(orders: int, directory: Path) -> tuple[Path, int]:
    """A synthetic merged table of `orders` orders (about 1.25 rows per order) as CSV in `directory`."""
    from olist_pipeline.domain.data.synthetic import generate_merged

    frame = generate_merged(orders, seed=7)
    path = directory / f"synthetic_{orders}_orders.csv"
    frame.to_csv(path, index=False)
    return path, len(frame)


def environment_line(speed_start: float, speed_end: float) -> str:
    from importlib.metadata import version

    names = ("zenml", "mlflow", "hydra-core", "hydra-joblib-launcher", "joblib", "scikit-learn")
    versions = ", ".join(f"{n} {version(n)}" for n in names)
    return (
        f"Machine: {bench.machine_line(speed_start, speed_end)}. "
        f"Versions: {versions}. Measured {dt.date.today().isoformat()}."
    )


def render(sizes: list[dict[str, Any]], repeats: int, env_line: str, notes: list[str] | None = None) -> str:
    lines = [
        "## Sweep: sequential vs 2 jobs at once (joblib workers; olist_fork), and through the resident runner (`scripts/bench_sweep.py`)",
        "",
        f"`python -m olist_pipeline -m {' '.join(COMMON)} {' '.join(SWEEP)}` (4 jobs), whole process, a fresh "
        f"state dir per sweep (stores from the store templates, nothing cached), variants alternating, median of {repeats}. "
        "*Before jobs*: process start until the first job's pipeline run starts (imports, stack set-up, MLflow "
        "parent run, worker start-up). *Job*: one training pipeline run. *After jobs*: the last job's end until "
        "the process exits (the sweep summary, closing the MLflow parent run, interpreter exit). *Data computed*: "
        "jobs that computed ingest..split instead of taking them from the cache. *CPU*: user + system seconds of "
        "the sweep's processes (through the runner: of its child and the jobs it forked); *cores busy*: CPU / wall.",
        "",
        env_line,
        "",
        "| data | launcher | wall (s, median) | runs (s) | speedup | before jobs (s) | job (s, mean) | "
        "train step (s, mean) | after jobs (s) | data computed | CPU (s) | cores busy | load avg at start |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    bounds = []
    for size in sizes:
        base = None
        for index, (label, runs) in enumerate(size["variants"]):
            walls = [r["wall"] for r in runs]
            median = statistics.median(walls)
            base = median if base is None else base
            pick = min(runs, key=lambda r: abs(r["wall"] - median))  # the run closest to the median
            cpu = pick.get("cpu", float("nan"))
            if index == 0 and "first_job_start" in pick:  # the first variant: the bounds of two perfect workers
                fixed = pick["first_job_start"] + pick["after_last_job"]
                bounds.append(f"{size['label']}: {median:.1f} s = {fixed:.1f} s outside the jobs + "
                              f"{median - fixed:.1f} s of jobs; halving the jobs gives at most "
                              f"{median / (fixed + (median - fixed) / 2):.2f}x; its {cpu:.1f} CPU-seconds "
                              f"on {os.cpu_count()} cores take at least {cpu / (os.cpu_count() or 1):.1f} s, "
                              f"so at most {median / (cpu / (os.cpu_count() or 1)):.2f}x")  # fmt: skip
            trains = [j["train_step"] for j in pick.get("jobs", [])]
            loads = ", ".join(f"{r['load']:.1f}" for r in runs)
            lines.append(
                f"| {size['label']} | {label} | {median:.1f} | {', '.join(f'{w:.1f}' for w in walls)} | "
                f"{base / median:.2f}x | {pick.get('first_job_start', float('nan')):.1f} | "
                f"{pick.get('mean_job', float('nan')):.1f} | {statistics.fmean(trains) if trains else float('nan'):.1f} | "
                f"{pick.get('after_last_job', float('nan')):.1f} | {pick.get('data_computed', '?')}/4 | "
                f"{cpu:.1f} | {cpu / pick['wall']:.2f} | {loads} |"
            )
    if bounds:
        lines += ["", "Upper bound of any 2-worker launcher, from the first variant's own timeline (its part outside "
                  "the jobs kept, its jobs perfectly halved): " + "; ".join(bounds) + "."]  # fmt: skip
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def write_section(text: str, path: Path = BENCHMARKS) -> None:
    """Replace this script's section of BENCHMARKS.md (the rest is left alone)."""
    bench.write_section(path, f"{START}\n{text}{END}", START, END)


PROFILE_START, PROFILE_END = "<!-- bench-sweep-profile:start -->", "<!-- bench-sweep-profile:end -->"


def profile_main(names: list[str], no_write: bool) -> int:
    """Profile one sweep of each variant on the sample; print the table and write its own section."""
    work = Path(tempfile.mkdtemp(prefix="olist_bench_sweep_profile_"))
    try:
        env = sweep_env(work / "store-templates")
        profiles = []
        for name in names:
            wall, shares = run_profiled(name, SAMPLE, env, work)
            profiles.append((VARIANTS[name][0], wall, shares))
            print(f"profiled {name}: {wall:.1f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = render_profile(profiles)
    print(text)
    if not no_write:
        bench.write_section(BENCHMARKS, f"{PROFILE_START}\n{text}{PROFILE_END}", PROFILE_START, PROFILE_END)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default="sequential,joblib2,fork2,sequential_runner,fork2_runner", help=f"comma-separated, of {','.join(VARIANTS)}")
    parser.add_argument("--sizes", default="sample,large", help="sample and/or large")
    parser.add_argument("--large-orders", type=int, default=80_000, help="orders in the large synthetic file (~1.25 rows each)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument("--notes", type=Path, help="a markdown file appended to the section (the analysis)")
    parser.add_argument("--profile-only", action="store_true",
                        help="instead of timing: profile one sweep of each of --profile-variants (py-spy), its own section")  # fmt: skip
    parser.add_argument("--profile-variants", default="sequential,fork2")
    args = parser.parse_args(argv)
    if args.profile_only:
        return profile_main(args.profile_variants.split(","), args.no_write)
    names = args.variants.split(",")
    speed_start = bench.speed_reference()
    work = Path(tempfile.mkdtemp(prefix="olist_bench_sweep_"))
    sizes: list[dict[str, Any]] = []
    runner_env = None
    try:
        env = sweep_env(work / "store-templates")  # the benchmark's own templates, built once here
        if any(RUNNER in VARIANTS[n][1] for n in names):
            runner_env, seconds, _ = bench.start_runner(work / "runner", env)
            print(f"resident runner ready in {seconds:.1f} s", file=sys.stderr, flush=True)
        for size in args.sizes.split(","):
            if size == "sample":
                data, label = SAMPLE, "embedded sample (5,027 rows)"
            else:
                data, rows = make_large(args.large_orders, work)
                label = f"synthetic, {rows:,} rows"
            results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
            for repeat in range(args.repeats):
                order = names if repeat % 2 == 0 else names[::-1]  # alternate who goes first
                for name in order:
                    state = work / f"{size}-{name}-{repeat}"
                    run = run_sweep(state, data, VARIANTS[name][1], env, runner_env)
                    results[name].append(run)
                    shutil.rmtree(state, ignore_errors=True)
                    print(f"{label} {name} repeat {repeat}: {run['wall']:.1f} s (load {run['load']:.1f}, "
                          f"before jobs {run.get('first_job_start', float('nan')):.1f} s, "
                          f"data computed {run.get('data_computed')}/4)", file=sys.stderr, flush=True)  # fmt: skip
                    print(f"    parent run at {run.get('parent_run', float('nan')):.1f} s, jobs (start-end s, data cached): "
                          + "; ".join(f"{j['start']:.1f}-{j['end']:.1f} {j['data_cached']}" for j in run.get("jobs", [])),
                          file=sys.stderr, flush=True)  # fmt: skip
            sizes.append({"label": label, "variants": [(VARIANTS[n][0], results[n]) for n in names]})
    finally:
        if runner_env is not None:
            subprocess.run([sys.executable, "-m", "olist_pipeline.speed.resident", "stop"], cwd=ROOT, env=runner_env, check=False,
                           capture_output=True)  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)
    notes = [args.notes.read_text().rstrip("\n")] if args.notes else None
    text = render(sizes, args.repeats, environment_line(speed_start, bench.speed_reference()), notes)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"wrote the sweep section of {BENCHMARKS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
