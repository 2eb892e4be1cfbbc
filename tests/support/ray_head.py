"""A real, separate Ray head on 127.0.0.1 for the tests and the benchmark (a fixture, not
product code).

``RayHead().start()`` runs ``ray start --head --block`` in its own process group with two
CPUs, a 100 MB object store, no dashboard and free ports, and returns once a Ray Client can
run a task on it; ``stop()`` kills the whole group (GCS, raylet, client server, workers), as
a crashed head machine would go, and ``start()`` again brings a fresh head up on the same
ports. Its workers import DiSE from this checkout (``PYTHONPATH``) and find the models in
``$DISE_MODELS_DIR``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"
#: For the head and its clients: no token authentication (Ray turns it on when it finds a
#: ``~/.ray/auth_token``, which its Client does not send), no usage stats, no gRPC notices.
CLIENT_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
              "GRPC_VERBOSITY": "ERROR"}
#: Seconds a head may take to come up on a crowded two-core machine.
START_TIMEOUT_S = 240.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayHead:
    """One Ray head; ``address`` is its Ray Client address ``ray://127.0.0.1:PORT``."""

    def __init__(self, num_cpus: int = 2) -> None:
        self.num_cpus = num_cpus
        # the fixed defaults (6379, 10001, 52365) may be another head's on a shared machine;
        # Ray picks free ones for the rest
        self.ports = {flag: free_port() for flag in (
            "--port", "--ray-client-server-port", "--dashboard-agent-listen-port")}
        # short: Ray's socket paths live under it (107 characters at most)
        self.temp_dir = Path(tempfile.mkdtemp(prefix="dise-ray-", dir="/tmp"))
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"ray://127.0.0.1:{self.ports['--ray-client-server-port']}"

    def env(self) -> dict[str, str]:
        """The environment of the head (and so of its workers)."""
        path = os.pathsep.join(p for p in (str(SERVER), os.environ.get("PYTHONPATH", "")) if p)
        # a crowded machine starts everything slowly: the raylet's registration (Ray's default
        # wait: 10 s) and the per-client server of each Ray Client connection (30 s, else
        # the client gets "Initialization failure from server")
        return {**os.environ, "PYTHONPATH": path, **CLIENT_ENV,
                "RAY_raylet_start_wait_time_s": "180", "RAY_agent_register_timeout_ms": "180000",
                "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "180"}

    def start(self) -> RayHead:
        ray = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
        assert ray, "the `ray` command is missing: pip install 'ray[client]'"
        args = [ray, "start", "--head", "--block",
                "--num-cpus", str(self.num_cpus), "--num-gpus", "0",
                "--include-dashboard=false", "--object-store-memory", str(100 * 2**20),
                "--temp-dir", str(self.temp_dir), "--disable-usage-stats"]
        for flag, port in self.ports.items():
            args += [flag, str(port)]
        self.log = open(self.temp_dir / "head.log", "ab")
        self.proc = subprocess.Popen(args, env=self.env(), stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()  # what it started of its group goes too
            raise
        return self

    def _wait_ready(self) -> None:
        """Until a Ray Client (another process) ran a task here: the head, its client
        server and one worker are up."""
        probe = ("import ray, logging; ray.init(address=%r, logging_level=logging.ERROR); "
                 "print(ray.get(ray.remote(lambda: 'ready').remote()))" % self.address)
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"ray start ended: {self.tail()[-600:]}")
            try:
                done = subprocess.run([sys.executable, "-c", probe], env=self.env(),
                                      capture_output=True, text=True,
                                      timeout=max(5.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                break
            if "ready" in done.stdout:
                return
            time.sleep(1.0)
        raise AssertionError(f"the Ray head did not come up in {START_TIMEOUT_S:.0f} s: "
                             f"{self.tail()[-600:]}")

    def tail(self) -> str:
        try:
            return (self.temp_dir / "head.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Kill the head's whole process group at once (no draining)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group outlives `ray start`
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.proc = None
        self.log.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> RayHead:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
