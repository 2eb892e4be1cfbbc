"""Test doubles for Phase 2, and a worker process the kill-and-resume test runs and SIGKILLs.

``VariantBackend`` answers by temperature (the optimiser's experiments differ by temperature),
so which experiment finds the better version is known in advance. Run as a script it optimises
one node in ``$DISE_HOME`` through the background ``Optimizer`` and prints the result as JSON.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))

from dise.engine.types import Cancelled, CancelToken

WEAK = "```python\ndef is_even(n):\n    return n == 2\n```"
GOOD = "```python\ndef is_even(n):\n    return n % 2 == 0\n```"
ASSERTS = ["assert is_even(2) is True", "assert is_even(3) is False", "assert is_even(0)"]
REQUEST = "check if a number is even"


class VariantBackend:
    """Answers ``answers[temperature]`` (else ``default``), optionally after a delay that a
    cancel interrupts; from temperature ``hang_from`` on it never answers (until cancelled), so
    a test can kill a worker at a known point; ``by_seed[seed]``, when given, answers that
    sampling seed at any temperature; ``repair``, when given, answers every repair prompt
    ("This code fails: …"); records each call's temperature and messages."""

    name = "scripted"
    model_label = "variant (test double)"

    def __init__(self, answers: dict[float, str] | None = None, default: str = WEAK,
                 delay: float = 0.0, block: threading.Event | None = None,
                 hang_from: float | None = None, by_seed: dict[int, str] | None = None,
                 repair: str | None = None) -> None:
        self.answers = {round(k, 3): v for k, v in (answers or {}).items()}
        self.by_seed = dict(by_seed or {})
        self.repair = repair
        self.seeds: list[int] = []
        self.default, self.delay, self.block = default, delay, block
        self.hang_from = hang_from
        self.calls: list[tuple[float, list[dict]]] = []
        self.cancelled = 0
        self._lock = threading.Lock()

    def generate(self, messages, *, temperature, max_tokens, seed=0, stop=None,
                 cancel: CancelToken | None = None, on_text=None) -> str:
        with self._lock:
            self.calls.append((round(temperature, 3), messages))
            self.seeds.append(seed)
        end = time.monotonic() + self.delay
        hang = self.hang_from is not None and temperature >= self.hang_from - 1e-9
        while (time.monotonic() < end or hang
               or (self.block is not None and not self.block.is_set())):
            if cancel is not None and cancel.cancelled:
                with self._lock:
                    self.cancelled += 1
                raise Cancelled()
            time.sleep(0.01)
        if cancel is not None:
            cancel.raise_if_cancelled()
        if self.repair is not None and "This code fails:" in str(messages[-1]["content"]):
            return self.repair
        if seed in self.by_seed:
            return self.by_seed[seed]
        return self.answers.get(round(temperature, 3), self.default)


def worker_config() -> dict:
    """Eight one-temperature experiments, the good one sixth; no early stop (target above 1),
    no stage 3."""
    return {"optimize": {"experiment_generators": ["qwen-0.5b"],
                         "temperatures": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                         "approaches": ["plain"], "seeds": [0], "patience": 100, "max_attempts": 50,
                         "differential_model_inputs": 0, "resample_k": 0,  # the plan as listed
                         "incremental_max_steps": 0, "when_idle": False, "target_fitness": 1.01,
                         "poll_interval_s": 0.05, "workers": 1}}


def main() -> int:
    from dise.config import load_config
    from dise.engine import core
    from dise.engine.types import Request
    from dise.optimize import Optimizer

    delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.3
    hang_from = float(sys.argv[2]) if len(sys.argv) > 2 else None
    cfg = load_config(worker_config())
    model = {"backend": VariantBackend()}
    engine = core.Engine(cfg, backend_factory=lambda gen, cfg: model["backend"])
    if not engine.store.nodes():
        engine.generate(Request(text=REQUEST, asserts=ASSERTS))
    model["backend"] = VariantBackend({0.6: GOOD}, delay=delay, hang_from=hang_from)
    optimizer = Optimizer(engine)
    done = threading.Event()
    events: list[str] = []

    def on_event(event: str, data: dict) -> None:
        events.append(event)
        if event == "idle":
            done.set()

    optimizer.subscribe(on_event)
    optimizer.start()
    done.wait()
    optimizer.stop()
    print(json.dumps({"results": [r.__dict__ for r in optimizer.results], "events": events},
                     default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
