"""scripts/bench_serving.py: its measurement against a real deployed server, and the server is gone after."""

from __future__ import annotations

import re

import pytest

from olist_pipeline.stack import serving

from tests.conftest import load_script


def _bench():
    return load_script("bench_serving")


def test_write_section_replaces_only_its_block(tmp_path):
    bench = _bench()
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nthe lead's table\n")
    bench.write_section("## Serving\nfirst\n", path)
    bench.write_section("## Serving\nsecond\n", path)
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nthe lead's table\n")
    assert text.count(bench.START) == 1 and "second" in text and "first" not in text


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_measure_against_a_deployed_server_then_stop_it(tmp_path):
    bench = _bench()
    with bench.trained(tmp_path) as (state, _):
        with bench.served(state) as deployment:
            columns = bench.model_columns(state, deployment.model_uri)
            single, batch, rows = bench.payloads(columns, batch_rows=50)
            results = bench.measure(
                deployment.url, single, batch, rows, requests=5, warmup=2, oneshot=2, batch_requests=2,
                pid=deployment.pid,
            )  # fmt: skip
            url, pid = deployment.url, deployment.pid
    # stopped by pipeline=undeploy: no record, no process, nothing answers
    assert serving.current(state / "serving", bench.MODEL_NAME) is None
    assert not serving._group_alive(pid)
    assert not serving.healthy(url, timeout=1.0)
    assert 0 < results["persistent"]["p50"] <= results["persistent"]["p95"]
    assert results["batch"]["rows"] == rows and 0 < rows <= 50 and results["batch"]["rows_per_s"] > 0
    text = bench.render([("as deployed", results)], "Machine: test.")
    assert re.search(r"\| as deployed \| 5 one-row, persistent connection \(2 warm-up\) \| [\d.]+ \| [\d.]+ \|", text)
