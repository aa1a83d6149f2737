"""Latency and throughput of the model server (`pipeline=deploy`: MLflow's scoring server) on loopback.

In a temporary state dir: train a model on the embedded sample, deploy it on a free port, then measure
  - single-order latency (p50/p95/p99) over one persistent HTTP connection, and over a new connection
    per request (what a client without keep-alive pays);
  - rows/s of ~1000-row batch requests (whole orders);
stop the server (`pipeline=undeploy`) and remove the state dir, also when something fails.
Writes its section of BENCHMARKS.md between the `bench-serving` markers (the rest is left alone).

    python scripts/bench_serving.py [--requests 500] [--warmup 20] [--batch-rows 1000] [--batch-requests 20]
                                    [--oneshot 100] [--profile 200] [--no-write]

A single request carries one order with one row (the common case: the model derives order-level
features from the rows of one order, so a request must carry all rows of its orders).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from olist_pipeline.stack import serving  # noqa: E402  (no ZenML/MLflow import)
sys.path.insert(0, str(ROOT / "scripts"))
import bench  # noqa: E402  (scripts/bench.py: the marked sections of BENCHMARKS.md)

SAMPLE = ROOT / "data" / "olist_sample.csv.gz"
BENCHMARKS = ROOT / "BENCHMARKS.md"
START, END = "<!-- bench-serving:start -->", "<!-- bench-serving:end -->"
MODEL_NAME = "olist_review_score_dev"  # tracking.model_name under +env=dev


@dataclass
class Deployment:
    url: str
    pid: int
    state_dir: Path
    model_uri: str
    setup_seconds: dict[str, float] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(*overrides: str, timeout: float, env: dict[str, str] | None = None) -> float:
    """Run `python -m olist_pipeline +env=dev ...` (whole process); returns its wall time."""
    full_env = {**os.environ, "ZENML_ANALYTICS_OPT_IN": "false", "COLUMNS": "200", **(env or {})}
    full_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full_env.get('PATH', '')}"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "olist_pipeline", "+env=dev", *overrides],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=full_env,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(overrides)} failed ({result.returncode}): {(result.stdout + result.stderr)[-2000:]}")
    return time.perf_counter() - started


@contextlib.contextmanager
def trained(work_dir: Path | None = None) -> Iterator[tuple[Path, float]]:
    """A fresh state dir with one model trained on the embedded sample (and promoted: the first one).

    Yields (state dir, training wall time); the directory is removed afterwards unless `work_dir` was given.
    """
    work = Path(tempfile.mkdtemp(prefix="olist_bench_serving_")) if work_dir is None else Path(work_dir)
    state = work / "state"
    try:
        yield state, _cli(f"paths.state_dir={state}", "evaluation.report=false", timeout=900)
    finally:
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def served(state: Path, port: int | None = None, overrides: tuple[str, ...] = ()) -> Iterator[Deployment]:
    """`pipeline=deploy` on 127.0.0.1:`port` (with extra `overrides`, e.g. serving settings); on exit
    (also on failure) `pipeline=undeploy`. If undeploy fails, the server's process group is stopped directly.
    """
    port = port or free_port()
    common = (f"paths.state_dir={state}", f"serving.port={port}")
    try:
        deploy_s = _cli("pipeline=deploy", *common, *overrides, timeout=600)
        server = serving.current(state / "serving", MODEL_NAME)
        if server is None or not serving.healthy(server.url):
            raise RuntimeError(f"no healthy server recorded under {state / 'serving'} after pipeline=deploy")
        yield Deployment(server.url, server.pid, state, server.model_uri, {"deploy": deploy_s})
    finally:
        with contextlib.suppress(Exception):
            _cli("pipeline=undeploy", *common, timeout=120)
        serving.stop(state / "serving", MODEL_NAME)  # a no-op when undeploy worked


def group_cpu_seconds(pgid: int) -> float:
    """user+system CPU seconds of every process in the server's process group (mlflow CLI + uvicorn)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


# --- payloads ---------------------------------------------------------------------------------------
def model_columns(state_dir: Path, model_uri: str) -> list[str]:
    """The input columns of the served model's signature."""
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{state_dir}/mlflow/mlflow.db"
    from mlflow.models import get_model_info

    return list(get_model_info(model_uri).signature.inputs.input_names())


def payloads(columns: list[str], batch_rows: int) -> tuple[bytes, bytes, int]:
    """(one-row order body, batch body, rows in the batch): `dataframe_split` JSON from the sample.

    The single order: the first delivered order with exactly one row. The batch: whole orders from the
    start of the sample, as many as fit in `batch_rows` rows.
    """
    import pandas as pd

    frame = pd.read_csv(SAMPLE, low_memory=False)  # typed as the pipeline reads it
    rows_per_order = frame.groupby("order_id", sort=False)["order_id"].transform("size")
    single = frame[(rows_per_order == 1) & frame["order_delivered_customer_date"].notna()].head(1)
    sizes = frame.groupby("order_id", sort=False).size()
    keep = sizes[sizes.cumsum() <= batch_rows].index
    batch = frame[frame["order_id"].isin(keep)]

    def body(rows: pd.DataFrame) -> bytes:
        split = json.loads(rows[columns].to_json(orient="split", index=False))
        return json.dumps({"dataframe_split": split}).encode()

    return body(single), body(batch), len(batch)


# --- measurement ------------------------------------------------------------------------------------
def _post(conn: http.client.HTTPConnection, body: bytes, expected: int) -> float:
    started = time.perf_counter()
    conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {data[:500]!r}")
    predictions = json.loads(data)["predictions"]
    if len(predictions) != expected:
        raise RuntimeError(f"expected {expected} predictions, got {len(predictions)}")
    return elapsed


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"n": len(ms), "p50": statistics.median(ms), "p95": q[94], "p99": q[98], "max": ms[-1], "mean": statistics.fmean(ms)}


def measure(
    url: str, single: bytes, batch: bytes, batch_rows: int, *, requests: int = 500, warmup: int = 20,
    oneshot: int = 100, batch_requests: int = 20, pid: int | None = None,
) -> dict[str, Any]:
    """Latency of one-row requests (persistent and new-connection) and rows/s of batch requests.

    With the server's `pid` (its process group), also the server's CPU time per request, a figure that
    depends less on what else runs on the machine than wall time does.
    Every loop is bounded; the client talks to `url` on loopback only.
    """
    host, port = url.removeprefix("http://").split(":")
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"loopback only, not {host}")
    cpu = (lambda: group_cpu_seconds(pid)) if pid else (lambda: float("nan"))
    results: dict[str, Any] = {"warmup": warmup}
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        for _ in range(warmup):
            _post(conn, single, 1)
        cpu0 = cpu()
        results["persistent"] = _percentiles([_post(conn, single, 1) for _ in range(requests)])
        results["persistent"]["cpu_ms"] = (cpu() - cpu0) * 1000 / requests
        _post(conn, batch, batch_rows)  # warm the batch path once
        cpu0, started = cpu(), time.perf_counter()
        batch_times = [_post(conn, batch, batch_rows) for _ in range(batch_requests)]
        total = time.perf_counter() - started
        results["batch"] = {
            "rows": batch_rows, "requests": batch_requests, "rows_per_s": batch_rows * batch_requests / total,
            "cpu_ms": (cpu() - cpu0) * 1000 / batch_requests,
            **{k: v for k, v in _percentiles(batch_times).items() if k in ("p50", "p95")},
        }  # fmt: skip
    finally:
        conn.close()
    if oneshot:
        times = []
        for _ in range(oneshot):
            fresh = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                started = time.perf_counter()
                fresh.connect()
                _post(fresh, single, 1)
                times.append(time.perf_counter() - started)
            finally:
                fresh.close()
        results["oneshot"] = _percentiles(times)
    return results


#: (label, file suffix, function) of the parts of one request worth naming in the profile.
PROFILED_PARTS = [
    ("JSON body -> DataFrame (MLflow)", "scoring_server/__init__.py", "infer_and_parse_data"),
    ("signature enforcement (MLflow)", "mlflow/models/utils.py", "_enforce_schema"),
    ("order features (olist_pipeline.domain.features.OrderFeatures.transform)", "olist_pipeline/domain/features.py", "transform"),
    ("preprocessing (ColumnTransformer: impute, encode)", "compose/_column_transformer.py", "transform"),
    ("estimator predict (HistGradientBoostingRegressor)", "_hist_gradient_boosting/gradient_boosting.py", "predict"),
]


def profile(model_uri: str, single: bytes, requests: int, threads: int | None = 1) -> list[str]:
    """cProfile of the scoring server's request handler in this process: where one request's time goes.

    Calls `mlflow.pyfunc.scoring_server.invocations` (what the server runs per request, minus HTTP)
    on the served model; `threads` limits OpenMP/BLAS threads as OMP_NUM_THREADS would.
    """
    import cProfile
    import pstats

    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server
    from threadpoolctl import threadpool_limits

    model = mlflow.pyfunc.load_model(model_uri)
    schema = model.metadata.get_input_schema()
    body = single.decode()
    with threadpool_limits(threads):
        for _ in range(20):
            scoring_server.invocations(body, "application/json", model, schema)
        started = time.perf_counter()
        for _ in range(requests):
            scoring_server.invocations(body, "application/json", model, schema)
        plain_ms = (time.perf_counter() - started) * 1000 / requests
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            scoring_server.invocations(body, "application/json", model, schema)
        profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, function): (cc, nc, tottime, cumtime, callers)}
    total = sum(v[3] for k, v in stats.items() if k[2] == "invocations" and k[0].endswith("scoring_server/__init__.py"))
    lines = [
        f"Where a one-row request's time goes (cProfile of MLflow's `invocations` handler in-process, {requests} "
        f"requests, {threads or 'default'} OpenMP thread(s); {plain_ms:.1f} ms per request unprofiled, HTTP excluded):",
        "",
    ]
    for label, suffix, function in PROFILED_PARTS:
        cum = max((v[3] for k, v in stats.items() if k[2] == function and k[0].endswith(suffix)), default=0.0)
        lines.append(f"- {label}: {100 * cum / total:.0f} %")
    return lines


# --- report -----------------------------------------------------------------------------------------
def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def environment_line(speed_start: float, speed_end: float, load_start: str) -> str:
    from importlib.metadata import version

    names = ("mlflow", "scikit-learn", "pandas", "uvicorn", "fastapi")
    versions = ", ".join(f"{n} {version(n)}" for n in names)
    return (
        f"Machine: {bench.machine_line(speed_start, speed_end)}; load average (1, 5, 15 min) at the start "
        f"{load_start}. Versions: {versions}. Measured {dt.date.today().isoformat()}."
    )


def render(variants: list[tuple[str, dict[str, Any]]], env_line: str, setup: dict[str, float] | None = None,
           notes: list[str] | None = None, target_ms: float = 15.0) -> str:
    """The markdown section: one block of rows per server variant (label, results of `measure`)."""
    lines = [
        "## Serving (`scripts/bench_serving.py`)",
        "",
        "MLflow scoring server started by `pipeline=deploy` (`serving.workers=1`), model trained on the embedded "
        "sample (`+env=dev`: hist_gradient_boosting, delivery features), client on the same machine over "
        "127.0.0.1 (`http.client`, `dataframe_split` JSON bodies encoded beforehand). A single request is one "
        "order with one row (the common case; the model derives order-level features from the rows of the "
        "same order, so a request carries all rows of its orders). Server CPU: user+system time of the server's "
        "processes per request.",
        "",
        env_line,
        "",
        "| server | requests | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | server CPU (ms/request) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, r in variants:
        p = r["persistent"]
        lines.append(
            f"| {label} | {p['n']} one-row, persistent connection ({r['warmup']} warm-up) | {p['p50']:.1f} | "
            f"{p['p95']:.1f} | {p['p99']:.1f} | {p['max']:.1f} | {p['cpu_ms']:.1f} |"
        )
        if "oneshot" in r:
            o = r["oneshot"]
            lines.append(
                f"| {label} | {o['n']} one-row, new connection each | {o['p50']:.1f} | {o['p95']:.1f} | "
                f"{o['p99']:.1f} | {o['max']:.1f} | |"
            )
    lines += ["", "| server | batch requests | rows/s | p50 (ms/request) | p95 (ms/request) | server CPU (ms/request) |",
              "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for label, r in variants:
        b = r["batch"]
        lines.append(
            f"| {label} | {b['requests']} x {b['rows']} rows (whole orders) | {b['rows_per_s']:,.0f} | "
            f"{b['p50']:.0f} | {b['p95']:.0f} | {b['cpu_ms']:.0f} |"
        )
    best = min(r["persistent"]["p50"] for _, r in variants)
    default = variants[0][1]["persistent"]["p50"]
    lines += [
        "",
        f"Target p50 < {target_ms:g} ms for one row: {'met' if default < target_ms else 'not met'} by the server "
        f"as deployed ({default:.1f} ms)" + (f"; best variant {best:.1f} ms." if len(variants) > 1 else "."),
    ]
    labels = dict(variants)
    if "as deployed" in labels and "2 threads per worker" in labels:
        d, o = labels["as deployed"], labels["2 threads per worker"]
        lines.append(
            f"`serving.threads_per_worker` (OMP/BLAS threads of the server; default 1) 1 -> 2: server CPU per "
            f"one-row request {d['persistent']['cpu_ms']:.1f} -> {o['persistent']['cpu_ms']:.1f} ms, batch "
            f"{d['batch']['rows_per_s']:,.0f} -> {o['batch']['rows_per_s']:,.0f} rows/s. HistGradientBoosting's "
            "predict opens one OpenMP parallel region per tree (300 per request); for a few rows the second "
            "thread only adds synchronisation, and its spin-waiting burns CPU that other work on the machine needs."
        )
    if setup:
        lines.append("Set-up, not part of the figures: " + ", ".join(f"{k} {v:.0f} s" for k, v in setup.items()) + ".")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def write_section(text: str, path: Path = BENCHMARKS) -> None:
    """Replace this script's section of BENCHMARKS.md (the rest is left alone)."""
    bench.write_section(path, f"{START}\n{text}{END}", START, END)


#: Server variants: (label, overrides of the deploy run).
VARIANTS = {
    "default": ("as deployed", ()),
    "threads2": ("2 threads per worker", ("serving.threads_per_worker=2",)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="one-row requests measured (persistent connection)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--oneshot", type=int, default=100, help="one-row requests on a new connection each (0: skip)")
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--batch-requests", type=int, default=20)
    parser.add_argument("--variants", default="default,threads2", help=f"comma-separated, of {','.join(VARIANTS)}")
    parser.add_argument("--profile", type=int, default=200, help="one-row requests profiled in-process (0: skip)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    speed_start, load_start = bench.speed_reference(), load_average()
    measured: list[tuple[str, dict[str, Any]]] = []
    setup: dict[str, float] = {}
    with trained() as (state, train_s):
        setup["training run"] = train_s
        for name in args.variants.split(","):
            label, overrides = VARIANTS[name]
            with served(state, overrides=overrides) as deployment:
                setup[f"deploy ({label})"] = deployment.setup_seconds["deploy"]
                if not measured:
                    columns = model_columns(state, deployment.model_uri)
                    single, batch, batch_rows = payloads(columns, args.batch_rows)
                results = measure(
                    deployment.url, single, batch, batch_rows, requests=args.requests, warmup=args.warmup,
                    oneshot=args.oneshot, batch_requests=args.batch_requests, pid=deployment.pid,
                )  # fmt: skip
                measured.append((label, results))
        notes = profile(deployment.model_uri, single, args.profile) if args.profile else []
    env_line = environment_line(speed_start, bench.speed_reference(), load_start)
    text = render(measured, f"{env_line} Load average at the end: {load_average()}.", setup, notes)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"wrote the serving section of {BENCHMARKS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
