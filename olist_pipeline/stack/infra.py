"""The stack as config: point the ZenML client at its store and make the declared stack exist.

`provision` is idempotent: it creates missing components, updates changed configuration, (re)builds
the stack and activates it; run twice, the second call changes nothing and says so.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from olist_pipeline.errors import ConfigError, ServiceError
from olist_pipeline.paths import PROJECT_ROOT
from olist_pipeline import speed
from olist_pipeline.environment import ZENML_ENV_DEFAULTS
from olist_pipeline.config.spec import StackSpec
from olist_pipeline.stack.locks import file_lock


def env_file() -> Path:
    """The untracked file of local credentials (`OLIST_ENV_FILE` overrides the project's `.env`)."""
    return Path(os.environ.get("OLIST_ENV_FILE") or PROJECT_ROOT / ".env")


def read_env_file(path: Path | None = None) -> dict[str, str]:
    """KEY=VALUE lines of the env file (comments and blank lines ignored); {} if it does not exist."""
    path = path or env_file()
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def credential(variable: str) -> str:
    """The value of a credential variable: the environment first, then the env file.

    Raises:
        ConfigError: naming the variable when neither has it.
    """
    value = os.environ.get(variable) or read_env_file().get(variable)
    if not value:
        raise ConfigError(
            f"credential {variable} is not set: export it or put it in {env_file()} "
            "(`make services-up` writes local defaults there)"
        )
    return value


def configure_environment(stack: StackSpec) -> None:
    """Point ZenML at the stack's client state and store. Must run before `zenml` is imported."""
    for key, value in ZENML_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    config_path = Path(stack.zenml_config_path)
    config_path.mkdir(parents=True, exist_ok=True)
    os.environ["ZENML_CONFIG_PATH"] = str(config_path)
    # The ZenML repository lives beside its store, so a test or a second checkout gets its own.
    os.environ["ZENML_REPOSITORY_PATH"] = str(config_path)
    if stack.zenml_store is not None:
        os.environ["ZENML_STORE_URL"] = stack.zenml_store.url
        os.environ["ZENML_STORE_USERNAME"] = credential(stack.zenml_store.username_env)
        os.environ["ZENML_STORE_PASSWORD"] = credential(stack.zenml_store.password_env)
    else:  # the local store under zenml_config_path; never a server named by the caller's environment
        for key in ("ZENML_STORE_URL", "ZENML_STORE_USERNAME", "ZENML_STORE_PASSWORD", "ZENML_STORE_API_KEY"):
            os.environ.pop(key, None)
    os.environ["MLFLOW_TRACKING_URI"] = stack.mlflow_tracking_uri
    speed.memoize_package_index()
    from olist_pipeline.stack import sqlite_reads

    sqlite_reads.install()  # before any store is opened: an interrupted read must not hold a store's lock


def check_services(stack: StackSpec, timeout: float = 2.0) -> None:
    """Every `health_checks` URL must answer 200 within `timeout` s, else one error naming the service.

    Run before ZenML or MLflow are touched: their clients retry for tens of seconds to minutes.
    """
    import urllib.error
    import urllib.request

    for name, url in stack.health_checks.items():
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as err:
            status = err.code
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ServiceError(
                f"{name} at {url} is not reachable ({reason}); start the services with `make services-up`"
            ) from None
        if status != 200:
            raise ServiceError(f"{name} at {url} answered HTTP {status}, expected 200")


def _store_lock(stack: StackSpec) -> contextlib.AbstractContextManager[None]:
    # ZenML rewrites its config files non-atomically; parallel sweep jobs serialise set-up here.
    return file_lock(Path(stack.zenml_config_path) / ".provision.lock")


def _differs(wanted: dict, current: dict) -> bool:
    return any(current.get(k) != v for k, v in wanted.items())


@contextlib.contextmanager
def _store_errors(stack: StackSpec) -> Iterator[None]:
    """A refused ZenML login becomes one clear error naming the server and the credential variables."""
    from zenml.exceptions import AuthorizationException

    try:
        yield
    except AuthorizationException as exc:
        if stack.zenml_store is None:
            raise
        store = stack.zenml_store
        raise ServiceError(
            f"ZenML server at {store.url} rejected the credentials in {store.username_env}/{store.password_env}: "
            f"{str(exc).splitlines()[0]}"
        ) from None


@contextlib.contextmanager
def _opening_local_store(stack: StackSpec) -> Iterator[None]:
    """For the block that first opens the ZenML store: a new home's local store starts as a copy of a
    pre-migrated template, and a local store already at this ZenML's revision is opened without the
    migration check (store_templates). A server's store is left to the server."""
    if stack.zenml_store is not None:
        yield
        return
    with speed.opening_local_zenml_store():
        yield


def connect(stack: StackSpec) -> None:
    """Check the stack's services answer, then log in to the ZenML store (for jobs that only read)."""
    check_services(stack)
    from zenml.client import Client

    with _store_errors(stack), _opening_local_store(stack):
        Client().zen_store  # noqa: B018 - connects and authenticates


def _provision_secrets(client: object, stack: StackSpec) -> list[str]:
    actions = []
    for name, variables in stack.secrets.items():
        values = {key: credential(variable) for key, variable in variables.items()}
        try:
            secret = client.get_secret(name, allow_partial_name_match=False)
        except KeyError:
            client.create_secret(name, values)
            actions.append(f"created secret {name!r}")
            continue
        if secret.secret_values != values:
            client.update_secret(name, add_or_update_values=values)
            actions.append(f"updated secret {name!r}")
    return actions


def provision(stack: StackSpec) -> list[str]:
    """Make the declared stack exist and be active. Returns what was done (empty: nothing changed)."""
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.utils import source_utils

    source_utils.set_custom_source_root(str(PROJECT_ROOT))
    check_services(stack)
    actions: list[str] = []
    with _store_lock(stack), _store_errors(stack):
        root = Path(stack.zenml_config_path)
        with _opening_local_store(stack):
            if not Client.is_repository_directory(root):
                Client.initialize(root=root)
                actions.append(f"initialised ZenML repository at {root}")
            client = Client()
            client.zen_store  # noqa: B018 - opened here, within the block
        actions += _provision_secrets(client, stack)
        for ctype, component in stack.components.items():
            type_enum = StackComponentType(ctype)
            try:
                existing = client.get_stack_component(type_enum, component.name, allow_name_prefix_match=False)
            except KeyError:
                client.create_stack_component(component.name, component.flavor, type_enum, component.configuration)
                actions.append(f"registered {ctype} {component.name!r} ({component.flavor})")
                continue
            if existing.flavor_name != component.flavor:
                raise ConfigError(
                    f"stack component {component.name!r} is registered with flavor {existing.flavor_name!r}, "
                    f"config wants {component.flavor!r}: rename it in conf/stack/ or delete the old one"
                )
            if _differs(component.configuration, existing.configuration):
                client.update_stack_component(component.name, type_enum, configuration=component.configuration)
                actions.append(f"updated {ctype} {component.name!r}")
        wanted = {StackComponentType(t): c.name for t, c in stack.components.items()}
        try:
            current = client.get_stack(stack.name, allow_name_prefix_match=False)
        except KeyError:
            client.create_stack(stack.name, components=wanted)
            actions.append(f"registered stack {stack.name!r}")
        else:
            have = {t: [c.name for c in comps] for t, comps in current.components.items()}
            if any(have.get(t) != [n] for t, n in wanted.items()) or set(have) - set(wanted):
                updates = {t: n for t, n in wanted.items()}
                for extra in set(have) - set(wanted):
                    updates[extra] = []
                client.update_stack(stack.name, component_updates=updates)
                actions.append(f"updated stack {stack.name!r}")
        if client.active_stack_model.name != stack.name:
            client.activate_stack(stack.name)
            actions.append(f"activated stack {stack.name!r}")
    return actions


def ensure_mlflow_experiment(stack: StackSpec, experiment_name: str) -> str:
    """Create the MLflow experiment up front, with its artifact location, and return its id.

    Done before the pipeline so the artifact location is the stack's (not MLflow's CWD default) and
    parallel jobs do not race to create the store.
    """
    from mlflow.tracking import MlflowClient

    uri = stack.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        speed.seed_mlflow_store(uri)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if stack.mlflow_artifact_location:
        Path(stack.mlflow_artifact_location).mkdir(parents=True, exist_ok=True)
        location = Path(stack.mlflow_artifact_location).as_uri()
    try:
        return client.create_experiment(experiment_name, artifact_location=location)
    except Exception:  # another process created it first
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is None:
            raise
        return experiment.experiment_id
