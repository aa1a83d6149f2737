"""`make setup` / `make stack`: initialise the ZenML repository and provision the configured stack.

    python -m olist_pipeline.app.setup [hydra overrides, e.g. stack=local]

Idempotent: a second call changes nothing and says so.
"""

from __future__ import annotations

import sys

from rich.console import Console

from olist_pipeline.config.compose import compose_spec
from olist_pipeline.config.compose import compose_config
from olist_pipeline.errors import OlistError
from olist_pipeline.stack.infra import configure_environment, ensure_mlflow_experiment, provision


def main(argv: list[str] | None = None) -> int:
    console = Console(highlight=False)
    try:
        spec, _, _ = compose_spec(compose_config(sys.argv[1:] if argv is None else argv))
        configure_environment(spec.stack)
        actions = provision(spec.stack)
        ensure_mlflow_experiment(spec.stack, spec.tracking.experiment_name)
    except OlistError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        return 1
    for action in actions:
        console.print(f"stack: {action}")
    if not actions:
        console.print(f"stack: {spec.stack.name!r} is registered, up to date and active (nothing to do)")
    console.print(f"ZenML state: {spec.stack.zenml_config_path}")
    console.print(f"MLflow:      {spec.stack.mlflow_tracking_uri} (experiment {spec.tracking.experiment_name!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
