"""How a node's optimisation run is steered from outside, and where its experiments run.

``Control`` is handed to ``optimize_node``: the CLI's Ctrl-C and the background optimiser's
stop cancel it, and ``preempt()`` cancels just the experiments in flight (interactive work or a
pause; they run again). ``executor_for`` picks the executor ``[optimize] executor`` names.
"""

from __future__ import annotations

import threading
from typing import Any

from dise.config import ConfigError
from dise.engine.types import CancelToken, LinkedToken
from dise.optimize import executors


class Control:
    """How a run is steered from outside.

    ``cancel`` ends the run (its state stays, to be resumed). ``preempt()`` cancels only the
    experiments in flight: they are not counted and run again after ``gate()``, which the
    background optimiser makes wait while it is paused or interactive work runs.
    """

    def __init__(self, cancel: CancelToken | None = None) -> None:
        self.cancel = cancel or CancelToken()
        self._lock = threading.Lock()
        self._tokens: set[LinkedToken] = set()

    def gate(self) -> None:
        self.cancel.raise_if_cancelled()

    def attempt_token(self) -> LinkedToken:
        token = LinkedToken(self.cancel)
        with self._lock:
            self._tokens.add(token)
        return token

    def release(self, token: LinkedToken) -> None:
        with self._lock:
            self._tokens.discard(token)

    def preempt(self) -> None:
        with self._lock:
            for token in self._tokens:
                token.cancel()



def executor_for(engine: Any) -> executors.Executor:
    """The executor ``[optimize] executor`` names: "thread" (default) or "ray" (Ray is
    imported only then). Raises ``ConfigError`` for another name or a bad Ray address."""
    ocfg = engine.cfg.optimize
    if ocfg.executor == "thread":
        return executors.ThreadExecutor(engine)
    if ocfg.executor == "ray":
        from dise.optimize.ray_executor import connection
        return connection(engine.cfg)
    raise ConfigError(f'[optimize] executor must be one of {", ".join(executors.EXECUTORS)}, '
                      f'not {ocfg.executor!r}.')
