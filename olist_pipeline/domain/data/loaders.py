"""One entry for every dataset layout: fingerprint the input, load it as one table.

Layouts (`dataset.format`): `csv` and `parquet` (one file, or a folder whose files of that format are
read in name order and stacked), and `kaggle_folder` (the registered Olist loader: the nine Kaggle CSVs
joined into the merged grain, `kaggle.py`).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pandas as pd

from olist_pipeline.domain.data import kaggle
from olist_pipeline.domain.data.io import HashFile, ReadFile, read_bytes, read_csv_bytes, read_file, sha256_file
from olist_pipeline.errors import DataError

#: format -> the file names it reads inside a folder.
FILE_PATTERNS = {"csv": ("*.csv", "*.csv.gz"), "parquet": ("*.parquet",)}
#: Registered loaders a declaration names by `format`, besides the plain file formats.
REGISTERED = ("kaggle_folder",)
FORMATS = (*FILE_PATTERNS, *REGISTERED)


def files_of(fmt: str, path: Path) -> list[Path]:
    """The files an input of `fmt` at `path` consists of: the file itself, or a folder's matching files
    in name order. Raises DataError when there are none."""
    if path.is_dir():
        found = sorted({f for pattern in FILE_PATTERNS[fmt] for f in path.glob(pattern) if f.is_file()})
        if not found:
            raise DataError(f"{path}: folder holds no {fmt} file ({', '.join(FILE_PATTERNS[fmt])})")
        return found
    if not path.is_file():
        read_bytes(path)  # raises the precise DataError (missing, not a regular file, ...)
    return [path]


def _combined(digests: list[tuple[str, str]]) -> str:
    """One sha256 over several files' names and digests (a single file: its own digest)."""
    if len(digests) == 1:
        return digests[0][1]
    total = hashlib.sha256()
    for name, digest in digests:
        total.update(name.encode() + b"\0" + bytes.fromhex(digest))
    return total.hexdigest()


def fingerprint(fmt: str, path: Path, hash_file: HashFile = sha256_file) -> str:
    """sha256 of the input's bytes (for a folder: of every file it reads), each file hashed by
    `hash_file` (streamed by default).

    Fails early, before any pipeline work, if the input is missing or empty.
    """
    if fmt == "kaggle_folder":
        return kaggle.fingerprint(path, hash_file)
    digests = []
    for file in files_of(fmt, path):
        if file.stat().st_size == 0:
            raise DataError(f"{file}: file is empty")
        digests.append((file.name, hash_file(file)))
    return _combined(digests)


def _parquet(data: bytes, source: str) -> pd.DataFrame:
    try:
        df = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise DataError(f"{source}: not a valid Parquet file ({str(exc).splitlines()[0]})") from None
    if df.empty:
        raise DataError(f"{source}: Parquet file has no rows")
    return df


def load(
    fmt: str, path: Path, expected_sha256: str | None = None, read: ReadFile = read_file
) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """The input as one table, the sha256 of what was read, and metadata about reading it.
    `read` gives each file's bytes with their sha256 (read from disk by default).

    If `expected_sha256` is given and the bytes differ (the input changed since the run was planned),
    stop rather than train on other data than the run records.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; valid: {list(FORMATS)}")
    details: dict[str, Any] = {}
    if fmt == "kaggle_folder":
        df, report, digest = kaggle.load_kaggle(path, read)
        details["join"] = report.as_metadata()
    else:
        parse = read_csv_bytes if fmt == "csv" else _parquet
        frames, digests = [], []
        for file in files_of(fmt, path):
            data, file_digest = read(file)
            frames.append(parse(data, str(file)))
            digests.append((file.name, file_digest))
        df = frames[0] if len(frames) == 1 else _stack(frames, [f for f, _ in digests], path)
        digest = _combined(digests)
        if len(frames) > 1:
            details["files"] = [name for name, _ in digests]
    if expected_sha256 and digest != expected_sha256:
        raise DataError(f"{path}: content changed since the run started (sha256 {digest[:12]} != {expected_sha256[:12]})")
    return df, digest, details


def _stack(frames: list[pd.DataFrame], names: list[str], folder: Path) -> pd.DataFrame:
    """A folder's files as one table: they must have the same columns."""
    first = list(frames[0].columns)
    for frame, name in zip(frames[1:], names[1:], strict=True):
        if list(frame.columns) != first:
            raise DataError(f"{folder / name}: columns differ from {names[0]}'s ({sorted(set(frame.columns) ^ set(first))})")
    return pd.concat(frames, ignore_index=True)
