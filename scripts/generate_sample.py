"""Write the embedded default dataset, `data/olist_sample.csv.gz`, with the project's own generator.

Deterministic: the same arguments give byte-identical output (no gzip name or mtime), so the
sample's sha256 only changes when the generator does.

    python scripts/generate_sample.py [--orders 4000] [--seed 7] [--out data/olist_sample.csv.gz]
"""

from __future__ import annotations

import argparse
import gzip
import sys

from olist_pipeline.domain.data.synthetic import generate_merged
from olist_pipeline.paths import resolve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=4000, help="number of orders (rows are items x payments)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="data/olist_sample.csv.gz", help="relative to the project root")
    args = parser.parse_args(argv)
    out = resolve(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = generate_merged(args.orders, seed=args.seed)
    data = frame.to_csv(index=False).encode()
    # gzip.compress writes no file name and mtime 0: the bytes depend on the content only.
    out.write_bytes(gzip.compress(data, compresslevel=9, mtime=0) if out.suffix == ".gz" else data)
    print(f"wrote {out} ({len(frame)} rows, {frame['order_id'].nunique()} orders)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
