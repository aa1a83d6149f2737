"""A one-node SLURM cluster on 127.0.0.1, for running sweeps through hydra-submitit-launcher here.

    python scripts/slurm_local.py up|down|status [--dir DIR]      (make slurm-up / slurm-down)

`up` installs slurm-wlm and munge if missing (apt-get), starts munged, writes `DIR/slurm.conf`
(one node `localhost` at 127.0.0.1, partition `debug`, no accounting, no cgroups), starts slurmctld
and slurmd, and waits until the node is idle. Export `SLURM_CONF=DIR/slurm.conf` (printed) before
`python -m olist_pipeline -m hydra/launcher=olist_slurm ...`. On a real cluster none of this is needed:
point `conf/hydra/launcher/olist_slurm.yaml` (partition, time, resources) at it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / ".olist" / "slurm"
CTLD_PORT, SLURMD_PORT = 16817, 16818


def run(command: list[str], env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed: {result.stderr.strip()[-600:]}")
    return result


def ensure_packages() -> None:
    if shutil.which("slurmctld", path="/usr/sbin:/usr/bin") and shutil.which("munged", path="/usr/sbin:/usr/bin"):
        return
    if os.geteuid() != 0:
        sys.exit("error: slurm-wlm and munge are not installed: apt-get install slurm-wlm munge (as root)")
    print("installing slurm-wlm, munge (apt-get)…", flush=True)
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "slurm-wlm", "munge"], env)


def munge_ok() -> bool:
    token = subprocess.run(["munge", "-n"], capture_output=True)
    if token.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=token.stdout, capture_output=True).returncode == 0


def ensure_munge() -> None:
    if munge_ok():
        return
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        run(["/usr/sbin/mungekey", "--create"])
        shutil.chown(key, "munge", "munge")
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"])
    for _ in range(50):
        if munge_ok():
            return
        time.sleep(0.2)
    sys.exit("error: munged did not start (see /var/log/munge/munged.log)")


def write_conf(directory: Path) -> Path:
    memory_mb = int(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 * 0.8)
    cpus = os.cpu_count() or 1
    for sub in ("state", "spool"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    conf = directory / "slurm.conf"
    conf.write_text(
        f"""# one-node SLURM on loopback, written by scripts/slurm_local.py
ClusterName=olist
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={CTLD_PORT}
SlurmdPort={SLURMD_PORT}
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={directory}/state
SlurmdSpoolDir={directory}/spool
SlurmctldPidFile={directory}/slurmctld.pid
SlurmdPidFile={directory}/slurmd.pid
SlurmctldLogFile={directory}/slurmctld.log
SlurmdLogFile={directory}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
    )
    return conf


def node_state(env: dict[str, str]) -> str:
    result = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env={**os.environ, **env})
    return result.stdout.strip() if result.returncode == 0 else "down"


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def up(directory: Path) -> None:
    ensure_packages()
    if os.geteuid() != 0:
        sys.exit("error: the local SLURM cluster runs its daemons as root (SlurmUser=root)")
    ensure_munge()
    conf = write_conf(directory)
    env = {"SLURM_CONF": str(conf)}
    if _pid(directory / "slurmctld.pid") is None:
        run(["/usr/sbin/slurmctld", "-f", str(conf)], env)
    if _pid(directory / "slurmd.pid") is None:
        run(["/usr/sbin/slurmd", "-f", str(conf), "-N", "localhost"], env)
    deadline = time.monotonic() + 60
    while node_state(env) not in ("idle", "mixed", "allocated"):
        if time.monotonic() > deadline:
            sys.exit(f"error: the SLURM node did not become idle (state {node_state(env)!r}; logs in {directory})")
        time.sleep(0.5)
    print(f"SLURM up: partition debug, node localhost (127.0.0.1), {node_state(env)}")
    print(f"export SLURM_CONF={conf}")


def step_daemons(conf: Path) -> list[int]:
    """The `slurmstepd` processes of the cluster configured by `conf` (their environment names it)."""
    wanted = f"SLURM_CONF={conf}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() == "slurmstepd" and wanted in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def down(directory: Path) -> None:
    conf = directory / "slurm.conf"
    for name in ("slurmd", "slurmctld"):
        pid = _pid(directory / f"{name}.pid")
        if pid is not None:
            os.kill(pid, 15)
            for _ in range(100):
                if _pid(directory / f"{name}.pid") is None:
                    break
                time.sleep(0.1)
            print(f"{name} stopped")
    # A job's step daemons outlive slurmd (idle, reparented to init): stop this cluster's too.
    for signum in (15, 9):
        pids = step_daemons(conf)
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        for _ in range(50):
            if not step_daemons(conf):
                break
            time.sleep(0.1)
    if conf.exists():
        shutil.rmtree(directory / "state", ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args()
    directory = args.dir.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if args.action == "up":
        up(directory)
    elif args.action == "down":
        down(directory)
    else:
        state = node_state({"SLURM_CONF": str(directory / "slurm.conf")})
        print(f"SLURM node localhost: {state}")
        return 0 if state in ("idle", "mixed", "allocated") else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
