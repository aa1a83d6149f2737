"""Parse-ahead: the run's fingerprint keeps the input's bytes, and the input is parsed from them in
a background thread while the process imports and sets up its stack; its ingest step (same process,
local orchestrator) takes the table instead of reading, hashing and parsing the file again.

This is process-wide state (bytes kept between two calls, a thread), so it lives here, not in the
pure domain: the domain loaders only get a `read`/`hash_file` function to use. The guarantee is the
one of reading again and comparing: what is handed over is what the domain loader parsed from the
kept bytes, with the sha256 of those bytes checked against the one the run records.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from olist_pipeline.domain.data import loaders
from olist_pipeline.domain.data.io import read_file, sha256_file

if TYPE_CHECKING:
    import pandas as pd

Loaded = tuple["pd.DataFrame", str, dict[str, Any]]

#: Formats parsed ahead in a thread; a Kaggle folder's kept bytes are still handed to ingest.
PARSED_AHEAD = ("csv",)


@dataclass
class _Kept:
    """Bytes the last fingerprint read whole (within its budget), and the input sha256 they make up."""

    fmt: str
    key: str  # the input's absolute path
    digest: str = ""
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # absolute file path -> (bytes, sha256)

    def is_for(self, fmt: str, path: Path) -> bool:
        return (self.fmt, self.key) == (fmt, os.path.abspath(path))

    def read(self, path: Path) -> tuple[bytes, str]:
        """The domain's `read`: a kept file handed over (so it is not held twice), else read now."""
        kept = self.files.pop(os.path.abspath(path), None)
        return kept if kept is not None else read_file(path)

    def load(self, path: Path) -> Loaded:
        """The domain loader over the kept bytes; it raises if what it read is not `digest`."""
        return loaders.load(self.fmt, path, self.digest, read=self.read)


class _Ahead:
    """A load of kept bytes in a background thread (pandas' C parser releases the GIL for most of the
    work, and the other core is idle while the process imports)."""

    def __init__(self, kept: _Kept, path: Path) -> None:
        self.kept = kept
        self._outcome: Loaded | BaseException | None = None
        self._thread = threading.Thread(target=self._load, args=(path,), name="olist-parse-ahead", daemon=True)
        self._thread.start()

    def _load(self, path: Path) -> None:
        try:
            self._outcome = self.kept.load(path)
        except BaseException as exc:  # handed to the step that takes the result, raised there
            self._outcome = exc

    def result(self) -> Loaded:
        self._thread.join()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome


_kept: _Kept | None = None
_ahead: _Ahead | None = None


def forget() -> None:
    """Drop the kept bytes and a load of them (a daemon thread still running ends on its own)."""
    global _kept, _ahead
    _kept = _ahead = None


def fingerprint_keeping(fmt: str, path: Path, budget: int) -> str | None:
    """The input's sha256 (loaders.fingerprint), keeping the files that fit in `budget` bytes, whole,
    for `start`/`take`. Replaces what an earlier fingerprint kept. None if `budget` is not positive:
    the caller fingerprints plainly."""
    global _kept
    forget()
    if budget <= 0:
        return None
    kept = _Kept(fmt, os.path.abspath(path))

    def hash_file(file: Path) -> str:
        used = sum(len(data) for data, _ in kept.files.values())
        if file.stat().st_size > budget - used:
            return sha256_file(file)
        data, digest = read_file(file)
        kept.files[os.path.abspath(file)] = (data, digest)
        return digest

    kept.digest = loaders.fingerprint(fmt, path, hash_file)
    if kept.files:
        _kept = kept
    return kept.digest


def start(fmt: str, path: Path) -> bool:
    """Start loading the bytes kept for this input in a background thread; False if nothing was
    started (nothing kept for it, already started, or a format not parsed ahead)."""
    global _kept, _ahead
    if _kept is None or fmt not in PARSED_AHEAD or not _kept.is_for(fmt, path):
        return False
    _ahead, _kept = _Ahead(_kept, path), None
    return True


def take(fmt: str, path: Path, expected_sha256: str | None) -> Loaded | None:
    """The input loaded from kept bytes (waiting for a load started ahead), taken once, if those bytes
    are the ones the run expects; else None (and they are dropped)."""
    global _kept, _ahead
    if _ahead is not None and _ahead.kept.is_for(fmt, path):
        ahead, _ahead = _ahead, None
        return ahead.result() if expected_sha256 in (None, ahead.kept.digest) else None
    if _kept is not None and _kept.is_for(fmt, path):
        kept, _kept = _kept, None
        return kept.load(path) if expected_sha256 in (None, kept.digest) else None
    return None
