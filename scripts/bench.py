"""`make bench`: whole-process wall time and peak RSS of
  - the plain script (scripts/plain_baseline.py: same work, no framework),
  - `python -m olist_pipeline` cold (a new ZenML/MLflow home each time), doing the plain script's work
    (`evaluation.report=false`), and as `make run` does it (with the evaluation report),
  - `python -m olist_pipeline` fully cached (same home, identical config),
  - `python -m olist_pipeline --help`,
  - the import floor: one process that only imports ZenML's client, MLflow, scikit-learn and pandas
    (what any in-process ZenML + MLflow run pays before doing anything),
run alternately, median of --repeats runs. Writes BENCHMARKS.md and prints the table.

    python scripts/bench.py [--repeats 3] [--data data/olist_sample.csv.gz] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def measure(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process; fails loudly if it fails."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(args)} failed:\n{err.read().decode()[-2000:]}")
    return wall, rusage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description="framework overhead benchmark")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default="data/olist_sample.csv.gz")
    parser.add_argument("--out", default="BENCHMARKS.md")
    args = parser.parse_args()
    env = {**os.environ, "ZENML_ANALYTICS_OPT_IN": "false"}
    data = str((ROOT / args.data).resolve())
    with_report = [PY, "-m", "olist_pipeline", "+env=dev", f"dataset.path={data}"]
    pipeline = [*with_report, "evaluation.report=false"]  # the same work as the plain script
    results: dict[str, list[tuple[float, float]]] = {
        "plain script": [], "pipeline cold": [], "pipeline cold + evaluation report": [], "pipeline cached": [],
        "--help": [], "import floor": [],
    }
    imports = "import zenml.client, mlflow, sklearn.pipeline, pandas"
    with tempfile.TemporaryDirectory(prefix="olist-bench-") as tmp:
        cached_home = Path(tmp) / "cached"
        measure([*pipeline, f"paths.state_dir={cached_home}"], env)  # warm the cached home once
        for i in range(args.repeats):
            results["plain script"].append(measure([PY, "scripts/plain_baseline.py", "--data", data], env))
            results["pipeline cold"].append(measure([*pipeline, f"paths.state_dir={Path(tmp) / f'cold{i}'}"], env))
            results["pipeline cold + evaluation report"].append(
                measure([*with_report, f"paths.state_dir={Path(tmp) / f'report{i}'}"], env)
            )
            results["pipeline cached"].append(measure([*pipeline, f"paths.state_dir={cached_home}"], env))
            results["--help"].append(measure([PY, "-m", "olist_pipeline", "--help"], env))
            results["import floor"].append(measure([PY, "-c", imports], env))
            print(f"round {i + 1}/{args.repeats} done", file=sys.stderr)

    med = {k: (statistics.median(w for w, _ in v), statistics.median(r for _, r in v)) for k, v in results.items()}
    plain_wall = med["plain script"][0]
    rows = [
        "| what | wall time (s, median) | peak RSS (MB) | vs plain script |",
        "|---|---:|---:|---:|",
    ]
    for name, (wall, rss) in med.items():
        rows.append(f"| {name} | {wall:.1f} | {rss:.0f} | {wall / plain_wall:.2f}x |")
    overhead = med["pipeline cold"][0] - plain_wall
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    versions = ", ".join(f"{p} {version(p)}" for p in ("zenml", "mlflow", "hydra-core", "scikit-learn", "pandas"))
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            f"Data: `{args.data}`; config `+env=dev`; {args.repeats} alternating rounds; whole processes.",
            f"Machine: {machine}. Versions: {versions}. Measured {time.strftime('%Y-%m-%d')}.",
            "",
            *rows,
            "",
            f"Cold run (same work as the plain script): {med['pipeline cold'][0]:.1f} s, target <= 3x plain + 10 s "
            f"= {3 * plain_wall + 10:.1f} s; framework overhead {overhead:.1f} s.",
            f"Fully cached re-run: {med['pipeline cached'][0]:.1f} s (target <= 5 s); "
            f"of which importing ZenML, MLflow, scikit-learn and pandas alone: {med['import floor'][0]:.1f} s.",
            "",
        ]
    )
    (ROOT / args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
