"""One entry for every dataset layout: fingerprint it, load it as the merged table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from olist_pipeline.domain.data import kaggle
from olist_pipeline.domain.data.io import fingerprint_file, forget_kept, load_table, parse_ahead, read_bytes
from olist_pipeline.errors import DataError

FORMATS = ("merged_csv", "kaggle_folder")


def fingerprint(fmt: str, path: Path, keep_bytes: int = 0) -> str:
    """sha256 of the input's bytes (for a Kaggle folder: of every table file it reads).

    Up to `keep_bytes` of what it read stay in memory for `load` in this process (io.fingerprint_file).
    Fails early, before any pipeline work, if the input is missing or empty.
    """
    forget_kept()
    if fmt == "kaggle_folder":
        return kaggle.fingerprint(path, keep_bytes)
    if not path.is_file():
        read_bytes(path)  # raises the precise DataError (missing, folder, ...)
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    return fingerprint_file(path, keep_bytes)


def start_loading(fmt: str, path: Path) -> bool:
    """Parse the input's kept bytes in a background thread for `load` (a merged CSV only); False if
    nothing was started (no bytes kept, or a Kaggle folder)."""
    return fmt == "merged_csv" and parse_ahead(path)


def load(fmt: str, path: Path, expected_sha256: str | None = None) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """The input as one merged table, the sha256 of what was read, and metadata about reading it.

    If `expected_sha256` is given and the bytes differ (the input changed since the run was planned),
    stop rather than train on other data than the run records.
    """
    if fmt == "kaggle_folder":
        df, report, digest = kaggle.load_kaggle(path)
        details: dict[str, Any] = {"join": report.as_metadata()}
    else:
        df, digest = load_table(path, expected_sha256)
        details = {}
    if expected_sha256 and digest != expected_sha256:
        raise DataError(f"{path}: content changed since the run started (sha256 {digest[:12]} != {expected_sha256[:12]})")
    return df, digest, details
