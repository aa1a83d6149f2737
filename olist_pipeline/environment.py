"""The process environment every ZenML/MLflow process of the project starts with.

Set before ZenML is first imported (`stack.infra.configure_environment`; the resident runner before its
imports): no network (analytics), no browser, plain tracebacks, fail-fast MLflow HTTP clients. Standard
library only, so any layer (and the resident runner) may import it.
"""

ZENML_ENV_DEFAULTS = {
    "ZENML_ANALYTICS_OPT_IN": "false",
    "AUTO_OPEN_DASHBOARD": "false",
    "ZENML_ENABLE_RICH_TRACEBACK": "false",
    "ZENML_LOGGING_VERBOSITY": "WARN",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "GIT_PYTHON_REFRESH": "quiet",
}
