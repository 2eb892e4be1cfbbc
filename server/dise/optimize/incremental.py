"""Stage 3 of a node run: temperature steps around the best setup stage 1 found.

A mixin of the runner's node run (``runner._NodeRun``). Steps of ``temperature_step`` go up
from the best setup's temperature, then down; each direction stops at its first step
without gain, and at most ``incremental_max_steps`` run. A step whose setup fails stops the
stage with its reason (a broken setup is no "no gain"). A further gain is one more version.
"""

from __future__ import annotations

from typing import Any

from dise.engine.types import Artifact, Cancelled
from dise.optimize.variants import Outcome, Variant


class IncrementalStage:
    """The temperature steps of a node run (stage 3)."""

    state: Any
    ocfg: Any

    def _tried(self, variant: Variant) -> bool:
        return any(Variant.from_dict(h["variant"]) == variant for h in self.state.history)

    def _next_step(self) -> Variant | None:
        """The next temperature step, turning down once up is done; None when both are."""
        s = self.state
        inc = s.incremental or {}
        assert s.best is not None
        best = Variant.from_dict(s.best["variant"])
        while True:
            if inc["steps"] >= self.ocfg.incremental_max_steps:
                return None
            temp = round(inc["temperature"] + inc["direction"] * self.ocfg.temperature_step, 3)
            step = Variant(best.generator, temp, best.approach)
            if 0.0 <= temp <= self.ocfg.temperature_max and not self._tried(step):
                return step
            if inc["direction"] < 0:
                return None
            inc.update(direction=-1, temperature=best.temperature)

    def _incremental(self, latest: Artifact) -> None:
        s = self.state
        self._latest_for_prompt = latest
        if not s.best or s.best.get("error"):
            s.stage = "done"
            self._persist()
            return
        while True:
            stop = self._hard_stop()
            if stop:
                s.stop_reason = stop
                break
            step = self._next_step()
            if step is None:
                s.stop_reason = "temperature steps found no further gain"
                break
            s.pending = [step.to_dict()]
            self._persist()
            outcome = self._attempt_until_done(step)
            if outcome is None:  # out of time: the step is not counted
                s.stop_reason = self._hard_stop()
                break
            if outcome.error:  # a broken setup is no "no gain": stop stepping, say why
                self._record(step, outcome)
                s.stop_reason = f"temperature steps stopped: {step.generator} failed"
                break
            assert s.incremental is not None
            s.incremental["steps"] += 1
            if self._record(step, outcome):
                s.incremental["temperature"] = step.temperature
            elif s.incremental["direction"] > 0:
                best = Variant.from_dict(s.best["variant"]) if s.best else step
                s.incremental.update(direction=-1, temperature=best.temperature)
            else:
                s.stop_reason = "temperature steps found no further gain"
                break
        s.pending = []
        self._maybe_save()
        s.stage = "done"
        self._persist()

    def _attempt_until_done(self, variant: Variant) -> Outcome | None:
        """Run ``variant``, again after each pre-emption; None when the time limit ran out."""
        while True:
            self._gate()
            token = self.control.attempt_token()
            try:
                return self._attempt(variant, token)
            except Cancelled:
                self.control.cancel.raise_if_cancelled()
                if self.control.expired:
                    return None
            finally:
                self.control.release(token)
