"""Where Phase 2's experiments run: in this process (threads) or as tasks on a Ray cluster.

The runner (``dise.optimize.runner``) decides *what* to try and records every outcome; an
executor only runs one experiment, "generate with a variant, then judge it on the frozen
tests in the sandbox" (``experiments.run_variant``), and returns its ``Outcome``:

* ``ThreadExecutor`` (``[optimize] executor = "thread"``, the default): in the calling
  thread, with this process's models; the runner's thread pool gives the concurrency.
* ``RayExecutor`` (``executor = "ray"``, ``dise.optimize.ray_executor``): each experiment is
  a Ray task whose resource request is sized to its generator (``resources_for``); the
  calling thread waits for it, so results come back to the optimiser that holds the node.

``control.executor_for`` picks one from the configuration. An executor that can no longer
reach its cluster raises ``ClusterUnavailable``: the run
stops with its state saved (resumable as after any stop) and the optimiser says so once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dise.config import Config
from dise.engine.types import Artifact, CancelToken, DiseError, TestCase
from dise.optimize.experiments import run_variant
from dise.optimize.variants import Outcome, Variant

EXECUTORS = ("thread", "ray")


class ClusterUnavailable(DiseError):
    """The executor's cluster cannot be reached (never started, gone away, wrong address).
    The message is one line: which cluster, that the state is saved, how to go on."""


@dataclass
class Experiment:
    """One experiment, self-contained so it can travel to another machine (picklable):
    the function's stored artifact, its frozen tests, the variant and the approach's data."""

    artifact: Artifact
    tests: list[TestCase]
    variant: Variant
    examples: list[list[str]] = field(default_factory=list)
    repair_rounds: int = 1


class Executor(Protocol):
    """Runs experiments; ``run`` blocks the calling thread until the outcome is back."""

    #: "thread" or "ray", as in ``[optimize] executor``.
    name: str

    def run(self, job: Experiment, cancel: CancelToken) -> Outcome:
        """The experiment's ``Outcome``. Raises ``Cancelled`` once ``cancel`` is set,
        ``ClusterUnavailable`` when the cluster is gone."""
        ...

    def capacity(self, generators: Sequence[str]) -> int:
        """Experiments of ``generators`` that can run at once (0: decide locally)."""
        ...


class ThreadExecutor:
    """Runs the experiment in the calling thread with this process's engine (its models
    stay loaded between experiments)."""

    name = "thread"

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def run(self, job: Experiment, cancel: CancelToken) -> Outcome:
        return run_variant(self.engine, job.artifact, job.tests, job.variant,
                           examples=job.examples, repair_rounds=job.repair_rounds,
                           cancel=cancel)

    def capacity(self, generators: Sequence[str]) -> int:
        return 0


@dataclass(frozen=True)
class Resources:
    """A Ray resource request for one experiment: logical CPUs, bytes of memory, GPUs."""

    num_cpus: float
    memory: int
    num_gpus: float = 0.0

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``ray.remote(...).options``."""
        out: dict[str, Any] = {"num_cpus": self.num_cpus, "memory": self.memory}
        if self.num_gpus:
            out["num_gpus"] = self.num_gpus
        return out

    def describe(self) -> str:
        gpus = f", {self.num_gpus:g} GPU" if self.num_gpus else ""
        return f"{self.num_cpus:g} CPU, {self.memory / 2**30:.1f} GiB{gpus}"


def resources_for(generator: str, cfg: Config) -> Resources:
    """What one experiment with ``generator`` needs on a cluster node.

    An embedded (llama.cpp) model runs inside the task: memory is the model's catalogue size
    (``model_ram_bytes``) plus the sandbox's ``memory_mb`` for the tests, CPUs are
    ``[optimize] ray_cpus_per_experiment`` (0: ``[hardware] cores_per_worker``), and one GPU
    (``ray_gpus_per_experiment``) when ``[llamacpp] n_gpu_layers`` offloads layers. A model
    behind a server (Ollama, OpenAI-compatible) costs the task one CPU and the sandbox's memory.
    """
    from dise.llm.select import effective_backend, model_ram_bytes

    gen = cfg.generator(generator)
    ocfg = cfg.optimize
    sandbox = cfg.sandbox.memory_mb * 2**20
    if effective_backend(gen, cfg) != "llamacpp":
        return Resources(num_cpus=1.0, memory=sandbox)
    cpus = ocfg.ray_cpus_per_experiment or float(max(1, cfg.hardware.cores_per_worker))
    gpus = ocfg.ray_gpus_per_experiment if cfg.llamacpp.n_gpu_layers else 0.0
    return Resources(num_cpus=float(cpus), memory=model_ram_bytes(gen, cfg) + sandbox,
                     num_gpus=float(gpus))


def fits(need: Resources, node: dict[str, float]) -> bool:
    """Whether one node's total resources (Ray's ``Resources`` dict) can hold ``need``."""
    return node.get("CPU", 0.0) >= need.num_cpus and \
        node.get("memory", 0.0) >= need.memory and node.get("GPU", 0.0) >= need.num_gpus


def slots(need: Resources, node: dict[str, float]) -> int:
    """How many experiments needing ``need`` one node runs at once."""
    if not fits(need, node):
        return 0
    counts = [node.get("CPU", 0.0) / need.num_cpus if need.num_cpus else math.inf,
              node.get("memory", 0.0) / need.memory if need.memory else math.inf,
              node.get("GPU", 0.0) / need.num_gpus if need.num_gpus else math.inf]
    return int(min(counts))

