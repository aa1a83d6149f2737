"""The servers the `server` stack needs, on 127.0.0.1: `make services-up | services-down | services-status`.

    python scripts/services.py up|down|status [hydra overrides, default stack=server]

`up` installs what is missing (apt-get: mariadb-server, postgresql; the Python packages come with
`make`), writes local default credentials to the untracked `.env` if absent, initialises data
directories under `stack.services.data_dir` (git-ignored `.olist/services`), starts MariaDB,
PostgreSQL, the S3 server (moto), the ZenML server (on MariaDB) and the MLflow server (on PostgreSQL,
artifacts in S3), waiting until each is healthy. Idempotent: a healthy service is left alone.
`down` stops them all. moto keeps S3 in memory, so `down` also resets the databases (otherwise ZenML
and MLflow would point at artifacts that no longer exist); a real S3 or MinIO would not need that.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from olist_pipeline.config.compose import compose_spec  # noqa: E402
from olist_pipeline.config.compose import compose_config  # noqa: E402
from olist_pipeline.errors import OlistError, ServiceError  # noqa: E402
from olist_pipeline.stack.infra import credential, env_file, read_env_file  # noqa: E402

console = Console(highlight=False, soft_wrap=True)
HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
IS_ROOT = os.geteuid() == 0

#: Local defaults written to `.env` when a variable is set nowhere (random passwords, never committed).
DEFAULT_CREDENTIALS = {
    "OLIST_MARIADB_USER": lambda: "olist",
    "OLIST_MARIADB_PASSWORD": lambda: secrets.token_urlsafe(18),
    "OLIST_POSTGRES_USER": lambda: "olist",
    "OLIST_POSTGRES_PASSWORD": lambda: secrets.token_urlsafe(18),
    "OLIST_S3_ACCESS_KEY_ID": lambda: "olist-local",
    "OLIST_S3_SECRET_ACCESS_KEY": lambda: secrets.token_urlsafe(24),
    "OLIST_ZENML_USERNAME": lambda: "olist",
    "OLIST_ZENML_PASSWORD": lambda: secrets.token_urlsafe(18),
    "OLIST_ZENML_JWT_SECRET": lambda: secrets.token_hex(32),
    # The MLflow server here has no auth; ZenML's tracker still wants one method configured.
    "OLIST_MLFLOW_USERNAME": lambda: "olist",
    "OLIST_MLFLOW_PASSWORD": lambda: secrets.token_urlsafe(12),
}


def ensure_credentials() -> list[str]:
    """Append local defaults for missing variables to the env file (mode 600). Returns what was added."""
    path = env_file()
    existing = read_env_file(path)
    missing = [k for k in DEFAULT_CREDENTIALS if k not in existing and not os.environ.get(k)]
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            if not existing:
                fh.write("# Local credentials for the server stack (written by `make services-up`; untracked).\n")
            for key in missing:
                fh.write(f"{key}={DEFAULT_CREDENTIALS[key]()}\n")
        path.chmod(0o600)
    return missing


def apt_install(*packages: str) -> None:
    """Install Debian packages (as root, or through sudo); one clear error when that is impossible."""
    prefix = [] if IS_ROOT else (["sudo", "-n"] if shutil.which("sudo") else None)
    if prefix is None:
        raise ServiceError(f"{', '.join(packages)} not installed and not root: apt-get install {' '.join(packages)}")
    console.print(f"installing {', '.join(packages)} (apt-get)…")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        result = subprocess.run([*prefix, *command], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"{' '.join(command)} failed: {result.stderr.strip()[-500:]}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def spawn(name: str, command: list[str], data_dir: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
    """Start a server process detached (own session), its output in `<name>.log`, its pid in `<name>.pid`."""
    log = open(data_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})},
        cwd=cwd or data_dir,
    )  # fmt: skip
    (data_dir / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def wait_until(name: str, healthy: Callable[[], bool], timeout: float, log: Path) -> float:
    start = time.monotonic()
    while not healthy():
        if time.monotonic() - start > timeout:
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-6:]) if log.exists() else ""
            raise ServiceError(f"{name} did not become healthy within {timeout:.0f} s: {tail} (log: {log})")
        time.sleep(0.5)
    return time.monotonic() - start


def terminate(pid_file: Path, timeout: float = 20.0) -> bool:
    pid = pid_alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid_file):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
        if not pid_alive(pid_file):
            break
    pid_file.unlink(missing_ok=True)
    return True


@dataclass
class Service:
    name: str
    url: str
    healthy: Callable[[], bool]
    start: Callable[[], None]
    stop: Callable[[], bool]
    pid_file: Path


class Services:
    """The five servers of the `server` stack, from the composed config."""

    def __init__(self, stack: object) -> None:
        if not stack.services:  # type: ignore[attr-defined]
            raise ServiceError(f"stack {stack.name!r} declares no services (use stack=server)")  # type: ignore[attr-defined]
        self.cfg = stack.services  # type: ignore[attr-defined]
        self.data = Path(self.cfg["data_dir"])
        self.m, self.p, self.s3, self.z, self.f = (self.cfg[k] for k in ("mariadb", "postgres", "s3", "zenml", "mlflow"))

    # --- MariaDB (the ZenML server's database) ---------------------------------------------------
    def _mariadb_dir(self) -> Path:
        return self.data / "mariadb"

    def _mariadb_cnf(self) -> Path:
        return self._mariadb_dir() / "my.cnf"

    def _mariadb_sql(self, sql: str) -> None:
        client = shutil.which("mariadb") or shutil.which("mysql")
        result = subprocess.run(
            [client, f"--defaults-file={self._mariadb_cnf()}", "-uroot", "-e", sql], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise ServiceError(f"MariaDB: {result.stderr.strip()}")

    def _mariadb_healthy(self) -> bool:
        import pymysql

        if not port_open(self.m["port"]):
            return False
        try:
            pymysql.connect(
                host=HOST, port=self.m["port"], user=credential(self.m["user_env"]),
                password=credential(self.m["password_env"]), database=self.m["database"], connect_timeout=2,
            ).close()  # fmt: skip
        except pymysql.MySQLError:
            return False
        return True

    def start_mariadb(self) -> None:
        server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin")
        if server is None:
            apt_install("mariadb-server", "mariadb-client")
            server = shutil.which("mariadbd", path="/usr/sbin:/usr/bin")
        base = self._mariadb_dir()
        datadir = base / "data"
        base.mkdir(parents=True, exist_ok=True)
        user = ["--user=root"] if IS_ROOT else []
        self._mariadb_cnf().write_text(
            "[client]\n"
            f"socket={base / 'mysqld.sock'}\n"
            "[mysqld]\n"
            f"datadir={datadir}\nport={self.m['port']}\nbind-address={HOST}\n"
            f"socket={base / 'mysqld.sock'}\npid-file={base / 'mariadb.pid'}\nlog-error={base / 'error.log'}\n"
            "skip-name-resolve\n" + ("user=root\n" if IS_ROOT else "")
        )
        if not (datadir / "mysql").exists():
            install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
            result = subprocess.run(
                [install, f"--defaults-file={self._mariadb_cnf()}", "--auth-root-authentication-method=normal",
                 "--skip-test-db", *user],
                capture_output=True, text=True,
            )  # fmt: skip
            if result.returncode != 0:
                raise ServiceError(f"mariadb-install-db failed: {result.stderr.strip()[-500:]}")
        spawn("mariadb", [server, f"--defaults-file={self._mariadb_cnf()}", *user], self.data)
        wait_until("MariaDB", lambda: (base / "mysqld.sock").exists() and port_open(self.m["port"]), 60, base / "error.log")
        user_name, password, db = credential(self.m["user_env"]), credential(self.m["password_env"]), self.m["database"]
        for host in (HOST, "localhost"):
            self._mariadb_sql(
                f"CREATE DATABASE IF NOT EXISTS `{db}`; "
                f"CREATE USER IF NOT EXISTS '{user_name}'@'{host}' IDENTIFIED BY '{password}'; "
                f"ALTER USER '{user_name}'@'{host}' IDENTIFIED BY '{password}'; "
                f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{user_name}'@'{host}'; FLUSH PRIVILEGES;"
            )

    # --- PostgreSQL (the MLflow server's database) -----------------------------------------------
    def _pg_bin(self, tool: str) -> str | None:
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(p.split("/")[4]))
        return found[-1] if found else shutil.which(tool)

    def _as_postgres(self, command: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root.
        return ["runuser", "-u", "postgres", "--", *command] if IS_ROOT else command

    def _pg_healthy(self) -> bool:
        import psycopg2

        if not port_open(self.p["port"]):
            return False
        try:
            psycopg2.connect(
                host=HOST, port=self.p["port"], user=credential(self.p["user_env"]),
                password=credential(self.p["password_env"]), dbname=self.p["database"], connect_timeout=2,
            ).close()  # fmt: skip
        except psycopg2.Error:
            return False
        return True

    def start_postgres(self) -> None:
        if self._pg_bin("pg_ctl") is None:
            apt_install("postgresql")
        initdb, pg_ctl, psql = (self._pg_bin(t) for t in ("initdb", "pg_ctl", "psql"))
        base = self.data / "postgres"
        datadir = base / "data"
        base.mkdir(parents=True, exist_ok=True)
        if IS_ROOT:
            shutil.chown(base, "postgres", "postgres")
            probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(base)])
            if probe.returncode != 0:
                raise ServiceError(f"PostgreSQL runs as user postgres, which cannot reach {base}: make its parents o+x")
        if not (datadir / "PG_VERSION").exists():
            result = subprocess.run(
                self._as_postgres([initdb, "-D", str(datadir), "-U", "postgres", "--auth-local=trust",
                                   "--auth-host=scram-sha-256", "-E", "UTF8"]),
                capture_output=True, text=True,
            )  # fmt: skip
            if result.returncode != 0:
                raise ServiceError(f"initdb failed: {result.stderr.strip()[-500:]}")
        options = f"-c listen_addresses={HOST} -c port={self.p['port']} -c unix_socket_directories={base}"
        result = subprocess.run(
            self._as_postgres([pg_ctl, "-D", str(datadir), "-o", options, "-l", str(base / "postgres.log"), "-w", "-t", "60", "start"]),
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServiceError(f"pg_ctl start failed: {result.stderr.strip()[-500:]} (log: {base / 'postgres.log'})")
        pid = (datadir / "postmaster.pid").read_text().split()[0]
        (self.data / "postgres.pid").write_text(pid)
        user_name, password, db = credential(self.p["user_env"]), credential(self.p["password_env"]), self.p["database"]

        def sql(statement: str, database: str = "postgres") -> str:
            out = subprocess.run(
                self._as_postgres([psql, "-h", str(base), "-p", str(self.p["port"]), "-U", "postgres", "-d", database,
                                   "-tAc", statement]),
                capture_output=True, text=True,
            )  # fmt: skip
            if out.returncode != 0:
                raise ServiceError(f"PostgreSQL: {out.stderr.strip()}")
            return out.stdout.strip()

        quoted = password.replace("'", "''")
        if sql(f"SELECT 1 FROM pg_roles WHERE rolname='{user_name}'") != "1":
            sql(f"CREATE ROLE \"{user_name}\" LOGIN PASSWORD '{quoted}'")
        else:
            sql(f"ALTER ROLE \"{user_name}\" LOGIN PASSWORD '{quoted}'")
        if sql(f"SELECT 1 FROM pg_database WHERE datname='{db}'") != "1":
            sql(f"CREATE DATABASE \"{db}\" OWNER \"{user_name}\"")

    def stop_postgres(self) -> bool:
        pg_ctl = self._pg_bin("pg_ctl")
        datadir = self.data / "postgres" / "data"
        (self.data / "postgres.pid").unlink(missing_ok=True)
        if pg_ctl is None or not (datadir / "postmaster.pid").exists():
            return False
        subprocess.run(self._as_postgres([pg_ctl, "-D", str(datadir), "-m", "fast", "-w", "stop"]), capture_output=True)
        return True

    # --- S3 (moto in server mode) -----------------------------------------------------------------
    def _s3_url(self) -> str:
        return f"http://{HOST}:{self.s3['port']}"

    def start_s3(self) -> None:
        spawn("s3", [str(BIN / "moto_server"), "-H", HOST, "-p", str(self.s3["port"])], self.data)
        wait_until("S3 (moto)", lambda: port_open(self.s3["port"]), 60, self.data / "s3.log")
        import boto3

        s3 = boto3.client(
            "s3", endpoint_url=self._s3_url(), region_name="us-east-1",
            aws_access_key_id=credential("OLIST_S3_ACCESS_KEY_ID"),
            aws_secret_access_key=credential("OLIST_S3_SECRET_ACCESS_KEY"),
        )  # fmt: skip
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=self.s3["bucket"])

    # --- ZenML server (on MariaDB) ----------------------------------------------------------------
    def start_zenml(self) -> None:
        config = self.data / "zenml-server"
        config.mkdir(parents=True, exist_ok=True)
        user, password = credential(self.m["user_env"]), credential(self.m["password_env"])
        env = {
            "ZENML_STORE_URL": f"mysql://{user}:{password}@{HOST}:{self.m['port']}/{self.m['database']}",
            "ZENML_CONFIG_PATH": str(config),
            "ZENML_ANALYTICS_OPT_IN": "false",
            "ZENML_SERVER_AUTO_ACTIVATE": "true",
            "ZENML_DEFAULT_USER_NAME": credential("OLIST_ZENML_USERNAME"),
            "ZENML_DEFAULT_USER_PASSWORD": credential("OLIST_ZENML_PASSWORD"),
            "ZENML_SERVER_JWT_SECRET_KEY": credential("OLIST_ZENML_JWT_SECRET"),
            "ZENML_LOGGING_VERBOSITY": "WARN",
        }
        spawn("zenml", [str(BIN / "uvicorn"), "zenml.zen_server.zen_server_api:app", "--host", HOST,
                        "--port", str(self.z["port"]), "--log-level", "warning"], self.data, env)  # fmt: skip
        wait_until("ZenML server", lambda: http_ok(f"http://{HOST}:{self.z['port']}/health"), 180, self.data / "zenml.log")

    # --- MLflow server (on PostgreSQL, artifacts in S3) ---------------------------------------------
    def start_mlflow(self) -> None:
        user, password = credential(self.p["user_env"]), credential(self.p["password_env"])
        env = {
            "MLFLOW_BACKEND_STORE_URI": f"postgresql://{user}:{password}@{HOST}:{self.p['port']}/{self.p['database']}",
            "MLFLOW_S3_ENDPOINT_URL": self._s3_url(),
            "AWS_ACCESS_KEY_ID": credential("OLIST_S3_ACCESS_KEY_ID"),
            "AWS_SECRET_ACCESS_KEY": credential("OLIST_S3_SECRET_ACCESS_KEY"),
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        spawn("mlflow", [str(BIN / "mlflow"), "server", "--artifacts-destination", self.f["artifacts_destination"],
                         "--host", HOST, "--port", str(self.f["port"]), "--workers", "1"], self.data, env)  # fmt: skip
        wait_until("MLflow server", lambda: http_ok(f"http://{HOST}:{self.f['port']}/health"), 180, self.data / "mlflow.log")

    def all(self) -> list[Service]:
        d = self.data
        return [
            Service("MariaDB", f"mysql://{HOST}:{self.m['port']}/{self.m['database']}", self._mariadb_healthy,
                    self.start_mariadb, lambda: terminate(d / "mariadb.pid"), d / "mariadb.pid"),
            Service("PostgreSQL", f"postgresql://{HOST}:{self.p['port']}/{self.p['database']}", self._pg_healthy,
                    self.start_postgres, self.stop_postgres, d / "postgres.pid"),
            Service("S3 (moto)", f"{self._s3_url()}/{self.s3['bucket']}", lambda: http_ok(f"{self._s3_url()}/{self.s3['bucket']}"),
                    self.start_s3, lambda: terminate(d / "s3.pid"), d / "s3.pid"),
            Service("ZenML server", f"http://{HOST}:{self.z['port']}", lambda: http_ok(f"http://{HOST}:{self.z['port']}/health"),
                    self.start_zenml, lambda: terminate(d / "zenml.pid"), d / "zenml.pid"),
            Service("MLflow server", f"http://{HOST}:{self.f['port']}", lambda: http_ok(f"http://{HOST}:{self.f['port']}/health"),
                    self.start_mlflow, lambda: terminate(d / "mlflow.pid"), d / "mlflow.pid"),
        ]  # fmt: skip

    def up(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        added = ensure_credentials()
        if added:
            console.print(f"credentials: wrote local defaults for {', '.join(added)} to {env_file()}")
        for service in self.all():
            if service.healthy():
                console.print(f"{service.name:<14} already up   {service.url}")
                continue
            if pid_alive(service.pid_file) is not None or port_open(int(service.url.rsplit(":", 1)[1].split("/")[0])):
                # Something answers on the port but not as expected: do not start a second copy.
                raise ServiceError(f"{service.name}: port of {service.url} is in use but the service is not healthy (wrong credentials, or another program?)")
            started = time.monotonic()
            service.start()
            if not service.healthy():
                raise ServiceError(f"{service.name} started but is not healthy at {service.url}")
            console.print(f"{service.name:<14} started      {service.url} ({time.monotonic() - started:.1f} s)")

    def down(self) -> None:
        for service in reversed(self.all()):
            stopped = service.stop()
            console.print(f"{service.name:<14} {'stopped' if stopped else 'not running'}")
        # S3 lived in moto's memory: reset the databases so no record points at a lost artifact.
        for name in ("mariadb", "postgres", "zenml-server"):
            shutil.rmtree(self.data / name, ignore_errors=True)

    def status(self) -> bool:
        table = Table(title="services of the server stack", header_style="bold")
        for column in ("service", "url", "state", "pid"):
            table.add_column(column)
        all_up = True
        for service in self.all():
            healthy = service.healthy()
            all_up &= healthy
            pid = pid_alive(service.pid_file)
            table.add_row(service.name, service.url, "[green]healthy[/]" if healthy else "[red]down[/]", str(pid or "-"))
        console.print(table)
        return all_up


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("up", "down", "status"):
        console.print("usage: python scripts/services.py up|down|status [hydra overrides]")
        return 2
    action, overrides = argv[0], argv[1:]
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    try:
        if not any(o.startswith("stack=") for o in overrides):
            overrides = ["stack=server", *overrides]
        spec, _, _ = compose_spec(compose_config(overrides))
        services = Services(spec.stack)
        if action == "up":
            services.up()
            services.status()
        elif action == "down":
            services.down()
        else:
            return 0 if services.status() else 1
    except OlistError as exc:
        Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
