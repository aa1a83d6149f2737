"""How the pipeline's tables are stored as ZenML artifacts.

ZenML's pandas materializer writes Parquet with gzip compression: 4.5 s for a 100k-row merged table
here, against 0.17 s with zstd, which also makes smaller files (13.3 vs 13.9 MB) and reads 4x faster.
Every table the pipeline passes between steps goes through it, so this is most of the framework's
per-row cost. Loading is ZenML's own (Parquet records its compression), so artifacts written by the
stock materializer still load.
"""

from __future__ import annotations

import pandas as pd
from zenml.integrations.pandas.materializers.pandas_materializer import PandasMaterializer

#: Parquet compression of every table artifact (pyarrow's zstd default level).
COMPRESSION = "zstd"


class ParquetMaterializer(PandasMaterializer):
    """ZenML's pandas materializer (metadata, visualisations, loading), writing zstd Parquet."""

    # Used where a step names it (`output_materializers=`), not registered for every DataFrame.
    SKIP_REGISTRATION = True

    def save(self, df: pd.DataFrame | pd.Series) -> None:
        """Write a DataFrame, or a Series as a one-column frame (how ZenML's materializer loads it)."""
        frame = df.to_frame(name="series") if isinstance(df, pd.Series) else df
        with self.artifact_store.open(self.parquet_path, mode="wb") as handle:
            frame.to_parquet(handle, compression=COMPRESSION)
