"""`make dashboard`: the ZenML dashboard of the active stack, on 127.0.0.1.

For a stack on a ZenML server, the dashboard is that server: print its URL. For the local stack, start
a ZenML server process on the local SQLite store (the client configuration is left untouched, unlike
`zenml login --local`, which would repoint every later run at that server). Ctrl-C stops it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from olist_pipeline.config.compose import compose_spec
from olist_pipeline.config.compose import compose_config
from olist_pipeline.stack.infra import configure_environment, provision

PORT = int(os.environ.get("ZENML_DASHBOARD_PORT", "8237"))


def main(argv: list[str] | None = None) -> int:
    spec, _, _ = compose_spec(compose_config(sys.argv[1:] if argv is None else argv))
    store = spec.stack.zenml_store
    if store is not None:
        print(f"ZenML dashboard of stack {spec.stack.name!r}: {store.url} (log in with ${store.username_env} / ${store.password_env})")
        return 0
    configure_environment(spec.stack)
    provision(spec.stack)
    from zenml.config.global_config import GlobalConfiguration

    url = GlobalConfiguration().store_configuration.url
    server_config = Path(spec.stack.zenml_config_path).parent / "zenml_dashboard"
    server_config.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "ZENML_STORE_URL": url,
        "ZENML_CONFIG_PATH": str(server_config),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_SERVER_AUTO_ACTIVATE": "true",
    }
    env.pop("ZENML_REPOSITORY_PATH", None)
    uvicorn = Path(sys.executable).parent / "uvicorn"
    print(f"ZenML dashboard on http://127.0.0.1:{PORT} (store {url}; user 'default', empty password); Ctrl-C stops it")
    os.execve(str(uvicorn), [str(uvicorn), "zenml.zen_server.zen_server_api:app", "--host", "127.0.0.1",
                             "--port", str(PORT), "--log-level", "warning"], env)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
