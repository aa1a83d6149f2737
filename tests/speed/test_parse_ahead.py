"""Parse-ahead (speed/parse_ahead.py): ingest parses the bytes the run's fingerprint kept, and only
those the run records; switched off, nothing is kept and no thread starts."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import pytest

from olist_pipeline import speed
from olist_pipeline.domain.data import io, loaders
from olist_pipeline.domain.data.synthetic import generate_merged
from olist_pipeline.errors import DataError
from olist_pipeline.speed import parse_ahead


@pytest.fixture(scope="module")
def good() -> pd.DataFrame:
    return generate_merged(200, seed=5)


@pytest.fixture(autouse=True)
def nothing_kept(monkeypatch):
    monkeypatch.delenv(speed.SWITCH, raising=False)
    parse_ahead.forget()
    yield
    parse_ahead.forget()


def ingest_load(fmt: str, path: Path, expected: str):
    """What steps/etl.py::ingest does to get the input."""
    return speed.take_loaded(fmt, path, expected) or loaders.load(fmt, path, expected_sha256=expected)


def test_ingest_parses_the_bytes_the_fingerprint_read(tmp_path, good):
    """The run's fingerprint keeps the input's bytes for its ingest step: what is parsed is what the
    run records, even if the file changes in between. Without kept bytes, the change is caught."""
    path = tmp_path / "d.csv"
    good.to_csv(path, index=False)
    digest = speed.fingerprint_keeping("csv", path, 1 << 20)
    assert digest == loaders.fingerprint("csv", path)
    good.head(10).to_csv(path, index=False)  # the file changes after the run was planned
    df, read_digest, _ = ingest_load("csv", path, digest)
    assert read_digest == digest and len(df) == len(good)
    # handed over once: a second load reads the file as it is now
    with pytest.raises(DataError, match="content changed since the run started"):
        ingest_load("csv", path, digest)
    # kept bytes of another content than the run expects are not used
    speed.fingerprint_keeping("csv", path, 1 << 20)
    good.to_csv(path, index=False)
    df, read_digest, _ = ingest_load("csv", path, digest)
    assert read_digest == digest and len(df) == len(good)
    # a file over the budget is streamed, not kept
    small = speed.fingerprint_keeping("csv", path, path.stat().st_size - 1)
    assert small == digest and parse_ahead._kept is None
    good.head(10).to_csv(path, index=False)
    with pytest.raises(DataError, match="content changed since the run started"):
        ingest_load("csv", path, small)


def test_a_parse_started_ahead_is_what_ingest_gets(tmp_path, good):
    path = tmp_path / "d.csv"
    good.to_csv(path, index=False)
    direct, digest = io.load_table(path)
    assert speed.fingerprint_keeping("csv", path, 1 << 20) == digest
    assert speed.start_parse("csv", path) and not speed.start_parse("csv", path)
    path.write_text("changed\n")  # what was parsed ahead is the fingerprinted content
    df, read_digest, _ = ingest_load("csv", path, digest)
    pd.testing.assert_frame_equal(df, direct, check_exact=True)
    assert read_digest == digest and parse_ahead._ahead is None  # taken once
    # a parse that fails fails the load that takes it, with the parser's own message
    path.write_bytes(b"a,b\n1,\xff\n")
    digest = speed.fingerprint_keeping("csv", path, 1 << 20)
    assert speed.start_parse("csv", path)
    with pytest.raises(DataError, match="not UTF-8 CSV text .invalid start byte at byte 6, line 2"):
        ingest_load("csv", path, digest)
    # a parse of other bytes than the run expects is dropped: the file is read again
    good.to_csv(path, index=False)
    speed.fingerprint_keeping("csv", path, 1 << 20)
    speed.start_parse("csv", path)
    path.write_text("a,b\n1,2\n")
    df, read_digest, _ = ingest_load("csv", path, io.sha256_file(path))
    assert df.shape == (1, 2) and parse_ahead._ahead is None


@pytest.mark.parametrize(
    ("overrides", "home_used", "started"),
    [
        ([], False, True),  # a new home: nothing can come from the cache
        ([], True, False),  # a used home with caching on: ingest may be cached, so no parse ahead
        (["enable_cache=false"], True, True),
        (["pipeline.handoff_mb=0"], False, False),  # no bytes kept, nothing to parse ahead
    ],
)
def test_the_input_is_parsed_ahead_only_where_ingest_will_run(tmp_path, overrides, home_used, started):
    from olist_pipeline.config.compose import compose_config, compose_spec
    from olist_pipeline.runs.common import fingerprint, load_ahead

    spec, _, _ = compose_spec(compose_config(["+env=dev", f"paths.state_dir={tmp_path}", *overrides]))
    if home_used:
        Path(spec.stack.zenml_config_path).mkdir(parents=True)
        (Path(spec.stack.zenml_config_path) / "config.yaml").write_text("")
    fingerprint(spec)
    load_ahead(spec)
    assert (parse_ahead._ahead is not None) == started


def test_switched_off_a_run_keeps_nothing_and_starts_no_thread(tmp_path, monkeypatch):
    """OLIST_SPEED=off: the fingerprint streams the file, no thread starts, ingest reads the file."""
    from olist_pipeline.config.compose import compose_config, compose_spec
    from olist_pipeline.runs.common import fingerprint, load_ahead

    spec, _, _ = compose_spec(compose_config(["+env=dev", f"paths.state_dir={tmp_path}"]))  # a new home
    fmt, path = spec.dataset.format, Path(spec.dataset.path)
    monkeypatch.setenv(speed.SWITCH, "off")
    started: list[str] = []
    monkeypatch.setattr(threading.Thread, "start", lambda self: started.append(self.name))
    digest = fingerprint(spec)
    load_ahead(spec)
    assert digest == loaders.fingerprint(fmt, path)
    assert parse_ahead._kept is None and parse_ahead._ahead is None and started == []
    assert speed.take_loaded(fmt, path, digest) is None


def test_kaggle_ingest_parses_the_bytes_the_fingerprint_read(tmp_path, good):
    from tests.domain.test_kaggle import write_kaggle_folder

    folder = write_kaggle_folder(tmp_path / "kaggle", good, gzip_some=False)
    digest = speed.fingerprint_keeping("kaggle_folder", folder, 1 << 24)
    assert digest == loaders.fingerprint("kaggle_folder", folder)
    assert not speed.start_parse("kaggle_folder", folder)  # kept for ingest, not parsed ahead
    (folder / "olist_order_reviews_dataset.csv").write_text("changed\n")
    df, read_digest, _ = ingest_load("kaggle_folder", folder, digest)
    assert read_digest == digest and len(df) > 0


def test_a_kaggle_folder_over_the_budget_is_kept_in_part(tmp_path, good):
    """Files beyond the budget are streamed and read again by ingest: a change there is caught."""
    from tests.domain.test_kaggle import write_kaggle_folder

    folder = write_kaggle_folder(tmp_path / "kaggle", good, gzip_some=False)
    orders = folder / "olist_orders_dataset.csv"  # the first table hashed, so kept
    digest = speed.fingerprint_keeping("kaggle_folder", folder, orders.stat().st_size)
    assert list(parse_ahead._kept.files) == [os.path.abspath(orders)]
    reviews = pd.read_csv(folder / "olist_order_reviews_dataset.csv")
    reviews.iloc[:-1].to_csv(folder / "olist_order_reviews_dataset.csv", index=False)
    with pytest.raises(DataError, match="content changed since the run started"):
        ingest_load("kaggle_folder", folder, digest)
