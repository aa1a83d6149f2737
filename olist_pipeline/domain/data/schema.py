"""A declared table: its columns with their types and checks, and the pandera schema built from them.

A dataset is declared in `conf/dataset/<name>.yaml` (see README "Add your own table"); the config layer
turns the declaration into a `TableDeclaration`, and `validate_table` checks a frame against it. Hard
checks stop the run (a report lists each failing check, column and count); soft checks (registered, by
name, in `checks.SOFT_CHECKS`) are returned as warnings and recorded as run metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from olist_pipeline.domain.data.checks import SOFT_CHECKS
from olist_pipeline.errors import DataError

#: Declared type -> the dtype a column is coerced to. `datetime` columns stay text (ISO 8601), checked
#: parseable; a nullable `int` is read as float (missing values have no integer representation).
COLUMN_TYPES = ("str", "int", "float", "bool", "datetime")


@dataclass(frozen=True)
class ColumnRule:
    """One declared column: its type and the checks every value must pass."""

    type: str
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[Any, ...] | None = None
    unique: bool = False
    required: bool = True  # False: may be absent, checked when present

    @property
    def dtype(self) -> str:
        if self.type == "int":
            return "float64" if self.nullable else "int64"
        return {"str": "str", "float": "float64", "bool": "bool", "datetime": "str"}[self.type]


@dataclass(frozen=True)
class TableDeclaration:
    """A table as declared: columns in order, the target, and the columns that must never be features."""

    name: str
    columns: Mapping[str, ColumnRule]
    target: str
    never_features: tuple[str, ...] = ()
    soft_checks: tuple[str, ...] = ()
    label_columns: tuple[str, ...] = ()  # other columns a task predicts (a binary label): optional at inference

    @classmethod
    def from_mapping(
        cls, name: str, columns: Mapping[str, Mapping[str, Any]], target: str,
        never_features: tuple[str, ...] = (), soft_checks: tuple[str, ...] = (), label_columns: tuple[str, ...] = (),
    ) -> TableDeclaration:  # fmt: skip
        rules = {}
        for column, rule in columns.items():
            values = dict(rule)
            if values.get("allowed") is not None:
                values["allowed"] = tuple(values["allowed"])
            rules[column] = ColumnRule(**values)
        return cls(name, rules, target, tuple(never_features), tuple(soft_checks), tuple(label_columns))

    @property
    def not_features(self) -> frozenset[str]:
        """The target and everything declared as never a feature."""
        return frozenset([self.target, *self.never_features])

    @property
    def optional_at_inference(self) -> frozenset[str]:
        """What rows to be scored need not carry: what a model predicts, and what is written after it."""
        return self.not_features | frozenset(self.label_columns)

    def numeric_columns(self) -> list[str]:
        return [c for c, rule in self.columns.items() if rule.type in ("int", "float", "bool")]


def _parseable_timestamps(series: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
    return parsed.notna() | series.isna()


def _column_schema(name: str, rule: ColumnRule, required: bool) -> pa.Column:
    checks: list[pa.Check] = []
    if rule.min is not None:
        checks.append(pa.Check.ge(rule.min))
    if rule.max is not None:
        checks.append(pa.Check.le(rule.max))
    if rule.allowed is not None:
        checks.append(pa.Check.isin(list(rule.allowed)))
    if rule.type == "datetime":
        checks.append(pa.Check(_parseable_timestamps, element_wise=False, error="timestamp parseable"))
    return pa.Column(
        rule.dtype, checks=checks, nullable=rule.nullable, unique=rule.unique, coerce=True, required=required
    )


def table_schema(table: TableDeclaration, require_target: bool = True) -> pa.DataFrameSchema:
    """Hard checks on the table; `require_target=False` for inference inputs (the target is not checked
    and the columns declared never-features, e.g. written after the target, or a label, may be absent)."""
    columns = {
        name: _column_schema(
            name, rule, required=rule.required and (require_target or name not in table.optional_at_inference)
        )
        for name, rule in table.columns.items()
        if require_target or name != table.target
    }
    return pa.DataFrameSchema(columns, strict=False, name=f"{table.name} table")


@dataclass
class ValidationReport:
    """What validation found: the rows checked and the soft problems with their row counts."""

    rows: int
    columns: int
    warnings: dict[str, int] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, int | dict[str, int]]:
        """A plain dict for run metadata."""
        return {"rows": self.rows, "columns": self.columns, "warnings": dict(self.warnings)}


def _format_failures(errors: SchemaErrors | SchemaError, source: str) -> str:
    cases = errors.failure_cases
    if cases is None or len(cases) == 0:
        return f"{source}: {errors}"
    lines = []
    # A column that cannot be coerced to its dtype fails every later check too: report only the dtype.
    uncoercible = set(cases.loc[cases["check"].astype(str).str.startswith("coerce_dtype"), "column"])
    grouped = cases.groupby(["column", "check"], dropna=False, sort=False)
    for (column, check), rows in grouped:
        if column in uncoercible and not str(check).startswith("coerce_dtype"):
            continue
        examples = ", ".join(repr(v) for v in rows["failure_case"].drop_duplicates().head(3))
        column = "<table>" if pd.isna(column) else column
        check = str(check)
        if check == "column_in_dataframe":
            lines.append(f"missing column {examples}")
        else:
            lines.append(f"column {column!r} fails {check} in {len(rows)} row(s), e.g. {examples}")
    return f"{source}: " + "; ".join(lines)


def validate_table(
    df: pd.DataFrame, table: TableDeclaration, source: str = "data", require_target: bool = True
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check `df` against the declared table; return it with coerced dtypes and a report.

    Raises:
        DataError: listing every failing hard check with its column and failing-row count.
    """
    if df.empty:
        raise DataError(f"{source}: the table has no rows")
    try:
        validated = table_schema(table, require_target).validate(df, lazy=True)
    except (SchemaErrors, SchemaError) as errors:
        raise DataError(_format_failures(errors, source)) from None
    warnings = {}
    for name in table.soft_checks:
        check = SOFT_CHECKS[name]
        failing = int((~check.passes(validated)).sum())
        if failing:
            warnings[check.description] = failing
    return validated, ValidationReport(rows=len(validated), columns=validated.shape[1], warnings=warnings)
