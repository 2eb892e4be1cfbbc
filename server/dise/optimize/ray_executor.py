"""Phase 2 experiments as Ray tasks (``[optimize] executor = "ray"``).

DiSE connects as a Ray *Client* (``ray_address = "ray://HEAD:10001"``, the head's
``--ray-client-server-port``), not as a full driver: a driver attached to the cluster's GCS
is terminated by Ray when the GCS stays unreachable for a minute, which would take
``dise serve`` down with the cluster. Through the client, a lost cluster is an exception
here (``ClusterUnavailable``), the run's state is kept, and the next run connects again.

Each experiment is one task (``_experiment``) with the resources its generator needs
(``executors.resources_for``); the nodes need the same DiSE and Python as this machine and
its models (a node's own ``DISE_MODELS_DIR``, set where its ``ray start`` runs, wins over
this machine's path). The Ray worker processes are reused between tasks, so a model stays
loaded in a worker after its first experiment.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from dise.config import Config, ConfigError
from dise.engine.types import Cancelled, CancelToken, DiseError
from dise.optimize.executors import ClusterUnavailable, Experiment, fits, resources_for, slots
from dise.optimize.experiments import run_variant
from dise.optimize.variants import Outcome

log = logging.getLogger(__name__)

#: Seconds between checks of a running task (and of its cancel token).
POLL_S = 0.2
#: Seconds to wait for the head's client port before calling the cluster unreachable
#: (``ray.init`` alone would wait 30 s).
PROBE_TIMEOUT_S = 3.0
#: ``ray.init`` tries once the client port answers: a busy head can fail to start the
#: per-client server in time ("Initialization failure from server"; its limit is the head's
#: ``RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S``, 30 s).
CONNECT_ATTEMPTS = 2
#: Re-runs of a task whose worker or node died (a crash, not an error of the experiment).
SYSTEM_RETRIES = 1

_lock = threading.Lock()
_current: RayExecutor | None = None


def address_of(cfg: Config, env: dict[str, str] | None = None) -> str:
    """The Ray Client address: ``[optimize] ray_address``, else ``$RAY_ADDRESS``.

    Raises ``ConfigError`` when neither is set or the address is not ``ray://HOST:PORT``.
    """
    env = os.environ if env is None else env
    address = (cfg.optimize.ray_address or env.get("RAY_ADDRESS", "")).strip()
    if not address:
        raise ConfigError('[optimize] executor = "ray" needs the cluster: set [optimize] '
                          'ray_address = "ray://HEAD:10001" (or $RAY_ADDRESS).')
    parts = urlsplit(address)
    if parts.scheme != "ray" or not parts.hostname or not parts.port:
        raise ConfigError(f'[optimize] ray_address must be a Ray Client address '
                          f'"ray://HEAD:PORT" (the head\'s --ray-client-server-port, 10001 by '
                          f'default), not {address!r}: attached to the GCS directly, Ray ends '
                          f'this process when the cluster goes away.')
    return address


def connection(cfg: Config) -> RayExecutor:
    """This process's Ray executor for ``cfg``'s address (one client connection per process;
    a changed address closes the old one). Connects lazily, on the first experiment."""
    global _current
    address = address_of(cfg)
    with _lock:
        if _current is not None and _current.address != address:
            _current.close()
            _current = None
        if _current is None:
            _current = RayExecutor(address, cfg)
        _current.cfg = cfg
        return _current


def _experiment(job: Experiment, cfg: Config, cpus: float) -> dict[str, Any]:
    """The Ray task: ``run_variant`` on a cluster node; returns ``Outcome.to_dict()``."""
    if os.environ.get("DISE_MODELS_DIR"):
        cfg.models_dir = Path(os.environ["DISE_MODELS_DIR"]).expanduser()
    if not cfg.llamacpp.n_threads:  # the cores Ray gave the task, not the node's
        cfg.llamacpp.n_threads = max(1, int(cpus))
    outcome = run_variant(SimpleNamespace(cfg=cfg), job.artifact, job.tests, job.variant,
                          examples=job.examples, repair_rounds=job.repair_rounds)
    outcome.tools.append(f"ray task on {socket.gethostname()}")
    return outcome.to_dict()


class RayExecutor:
    """Runs each experiment as a Ray task and waits for it (see the module's docstring)."""

    name = "ray"

    def __init__(self, address: str, cfg: Config) -> None:
        self.address, self.cfg = address, cfg
        self._lock = threading.Lock()
        self._ray: Any = None
        self._remote: Any = None

    # -- connection -------------------------------------------------------------------------
    def _connect(self) -> Any:
        with self._lock:
            if self._ray is not None:
                return self._ray
            os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # fork notices from the sandbox
            try:
                import ray
            except ImportError:
                raise DiseError('[optimize] executor = "ray" needs Ray\'s client: '
                                "pip install 'dise[team]' (or 'ray[client]').") from None
            parts = urlsplit(self.address)
            try:
                socket.create_connection((parts.hostname, parts.port),
                                         timeout=PROBE_TIMEOUT_S).close()
            except OSError as exc:
                raise self._unavailable(exc) from None
            for attempt in range(CONNECT_ATTEMPTS):  # the port answers: the head is there
                try:
                    ray.init(address=self.address, logging_level=logging.WARNING,
                             namespace="dise")
                    break
                except Exception as exc:  # noqa: BLE001 - every way of not connecting
                    self._shutdown(ray)
                    if attempt + 1 == CONNECT_ATTEMPTS:
                        raise self._unavailable(exc) from None
                    log.warning("connecting to the Ray cluster at %s failed (%r); again",
                                self.address, exc)
            self._ray = ray
            self._remote = ray.remote(_experiment)
            log.info("Phase 2 experiments run on the Ray cluster at %s", self.address)
            return ray

    def _unavailable(self, exc: BaseException) -> ClusterUnavailable:
        said = (str(exc).strip().splitlines() or [""])[0][:160]
        why = f"{type(exc).__name__}: {said}" if said else type(exc).__name__
        return ClusterUnavailable(
            f"The Ray cluster at {self.address} is unreachable ({why}); the optimisation "
            f"state is saved and resumes once the cluster is back (or set [optimize] "
            f'executor = "thread").')

    @staticmethod
    def _shutdown(ray: Any) -> None:
        try:
            ray.shutdown()
        except Exception:  # noqa: BLE001 - already gone
            log.debug("ray.shutdown failed", exc_info=True)

    def _lost(self, exc: BaseException) -> ClusterUnavailable:
        """Forget the connection (the next call reconnects) and say why."""
        with self._lock:
            if self._ray is not None:
                self._shutdown(self._ray)
            self._ray = self._remote = None
        log.warning("lost the Ray cluster at %s: %r", self.address, exc)
        return self._unavailable(exc)

    def close(self) -> None:
        with self._lock:
            if self._ray is not None:
                self._shutdown(self._ray)
            self._ray = self._remote = None

    # -- capacity ---------------------------------------------------------------------------
    def _nodes(self, ray: Any) -> list[dict[str, float]]:
        try:
            return [dict(n.get("Resources") or {}) for n in ray.nodes() if n.get("Alive")]
        except Exception as exc:  # noqa: BLE001
            raise self._lost(exc) from None

    def capacity(self, generators: Sequence[str]) -> int:
        """Concurrent experiments the cluster holds for the most demanding of
        ``generators``: each alive node's slots, summed (at least 1)."""
        ray = self._connect()
        needs = [resources_for(g, self.cfg) for g in generators] or \
            [resources_for(self.cfg.pipeline.default_generator, self.cfg)]
        need = max(needs, key=lambda r: (r.num_gpus, r.memory, r.num_cpus))
        return max(1, sum(slots(need, node) for node in self._nodes(ray)))

    # -- running ----------------------------------------------------------------------------
    def run(self, job: Experiment, cancel: CancelToken) -> Outcome:
        """Submit ``job`` as a task and wait; ``Cancelled`` cancels the task too."""
        cancel.raise_if_cancelled()
        ray = self._connect()
        need = resources_for(job.variant.generator, self.cfg)
        started = time.perf_counter()
        if not any(fits(need, node) for node in self._nodes(ray)):
            return Outcome(variant=job.variant.to_dict(), seconds=0.0, error=(
                f"no node of the Ray cluster at {self.address} has {need.describe()} "
                f"for {job.variant.generator}"))
        try:
            ref = self._remote.options(**need.options(), max_retries=SYSTEM_RETRIES) \
                .remote(job, self.cfg, need.num_cpus)
        except Exception as exc:  # noqa: BLE001
            raise self._lost(exc) from None
        return self._wait(ray, ref, job, cancel, started)

    def _wait(self, ray: Any, ref: Any, job: Experiment, cancel: CancelToken,
              started: float) -> Outcome:
        from ray import exceptions as rx

        while True:
            if cancel.cancelled:
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - gone with the cluster: nothing to cancel
                    log.debug("ray.cancel failed", exc_info=True)
                raise Cancelled()
            try:
                ready, _ = ray.wait([ref], timeout=POLL_S)
                if not ready:
                    continue
                return Outcome.from_dict(ray.get(ref))
            except rx.TaskCancelledError:
                raise Cancelled() from None
            except rx.RayTaskError as exc:  # the experiment itself raised: as in a thread
                cause = getattr(exc, "cause", None)
                if isinstance(cause, BaseException):
                    raise cause from None
                raise DiseError(f"the Ray task failed: {exc}") from None
            except (rx.WorkerCrashedError, rx.OutOfMemoryError, rx.NodeDiedError,
                    rx.ObjectLostError) as exc:  # this task's worker died, the cluster lives
                said = (str(exc).strip().splitlines() or [""])[0][:160]
                return Outcome(variant=job.variant.to_dict(),
                               seconds=round(time.perf_counter() - started, 3),
                               error=f"the Ray task died ({type(exc).__name__}: {said})")
            except Exception as exc:  # noqa: BLE001 - the connection: the cluster is gone
                raise self._lost(exc) from None

