"""One entry for every dataset layout: fingerprint it, load it as the merged table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from olist_pipeline.domain.data import kaggle
from olist_pipeline.domain.data.io import HashFile, ReadFile, load_table, read_bytes, read_file, sha256_file
from olist_pipeline.errors import DataError

FORMATS = ("merged_csv", "kaggle_folder")


def fingerprint(fmt: str, path: Path, hash_file: HashFile = sha256_file) -> str:
    """sha256 of the input's bytes (for a Kaggle folder: of every table file it reads), each file
    hashed by `hash_file` (streamed by default).

    Fails early, before any pipeline work, if the input is missing or empty.
    """
    if fmt == "kaggle_folder":
        return kaggle.fingerprint(path, hash_file)
    if not path.is_file():
        read_bytes(path)  # raises the precise DataError (missing, folder, ...)
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    return hash_file(path)


def load(
    fmt: str, path: Path, expected_sha256: str | None = None, read: ReadFile = read_file
) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """The input as one merged table, the sha256 of what was read, and metadata about reading it.
    `read` gives each file's bytes with their sha256 (read from disk by default).

    If `expected_sha256` is given and the bytes differ (the input changed since the run was planned),
    stop rather than train on other data than the run records.
    """
    if fmt == "kaggle_folder":
        df, report, digest = kaggle.load_kaggle(path, read)
        details: dict[str, Any] = {"join": report.as_metadata()}
    else:
        df, digest = load_table(path, read)
        details = {}
    if expected_sha256 and digest != expected_sha256:
        raise DataError(f"{path}: content changed since the run started (sha256 {digest[:12]} != {expected_sha256[:12]})")
    return df, digest, details
