"""`make ui`: open the MLflow UI on the active config's tracking store (127.0.0.1 only)."""

from __future__ import annotations

import os
import shutil
import sys

from olist_pipeline.config.compose import compose_spec
from olist_pipeline.config.compose import compose_config


def main(argv: list[str] | None = None) -> int:
    spec, _, _ = compose_spec(compose_config(sys.argv[1:] if argv is None else argv))
    uri = spec.stack.mlflow_tracking_uri
    if uri.startswith(("http://", "https://")):
        print(f"MLflow UI of this stack: {uri}")
        return 0
    mlflow = shutil.which("mlflow") or os.path.join(os.path.dirname(sys.executable), "mlflow")
    port = os.environ.get("MLFLOW_UI_PORT", "5000")
    print(f"MLflow UI on http://127.0.0.1:{port} (store {uri}); Ctrl-C stops it")
    os.execv(mlflow, [mlflow, "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", port])
    return 0


if __name__ == "__main__":
    sys.exit(main())
