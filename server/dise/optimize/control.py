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

    The run's time limit: ``count_down(left_s)`` calls ``expire()`` after ``left_s`` seconds
    unless ``stop_countdown()`` comes first (the runner stops the countdown while it waits at
    the gate: that time is not working time). ``expire()`` sets ``expired`` and cancels the
    experiments in flight and any started later: they are not counted and the run stops.
    One ``Control`` per run.
    """

    def __init__(self, cancel: CancelToken | None = None) -> None:
        self.cancel = cancel or CancelToken()
        self._lock = threading.Lock()
        self._tokens: set[LinkedToken] = set()
        #: The run's working time ran out (``expire``); stays set for the rest of the run.
        self.expired = False
        self._timer: threading.Timer | None = None

    def gate(self) -> None:
        self.cancel.raise_if_cancelled()

    def attempt_token(self) -> LinkedToken:
        token = LinkedToken(self.cancel)
        with self._lock:
            self._tokens.add(token)
            if self.expired:  # the time ran out just before: never start it
                token.cancel()
        return token

    def release(self, token: LinkedToken) -> None:
        with self._lock:
            self._tokens.discard(token)

    def preempt(self) -> None:
        with self._lock:
            for token in self._tokens:
                token.cancel()

    def expire(self) -> None:
        """The run's working time is over: cancel what runs and whatever starts from now."""
        with self._lock:
            self.expired = True
            for token in self._tokens:
                token.cancel()

    def count_down(self, left_s: float) -> None:
        """Call ``expire()`` in ``left_s`` seconds (now when <= 0), replacing any countdown;
        a no-op once expired."""
        self.stop_countdown()
        if self.expired:
            return
        if left_s <= 0:
            self.expire()
            return
        timer = threading.Timer(left_s, self.expire)
        timer.daemon = True
        with self._lock:
            self._timer = timer
        timer.start()

    def stop_countdown(self) -> None:
        """Stop the countdown (``count_down``), if any."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()


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
