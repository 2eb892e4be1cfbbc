"""Judging a node run's candidates: the bar to beat, differential testing, test votes.

A mixin of the runner's node run (``runner._NodeRun``): it reads the run's ``state``,
``ocfg``, ``cfg``, ``store``, ``tests``, ``name``, ``control`` and the artifact being
optimised (``_latest_for_prompt``), and calls the run's ``_generators``.
"""

from __future__ import annotations

from typing import Any

from dise.engine import credibility
from dise.engine.types import Cancelled
from dise.optimize import differential, model_inputs
from dise.optimize.variants import Outcome, Variant


class Judging:
    """Whether a candidate is better than the best so far, and what its run tells the store."""

    state: Any
    ocfg: Any

    def _bar(self) -> float:
        """Fitness a candidate must beat to count as better."""
        s = self.state
        if s.best is not None:
            return float(s.best["fitness"])
        return max(s.current_fitness, s.baseline_fitness or 0.0)

    def _is_better(self, outcome: Outcome) -> bool:
        """Beats the bar and passes as many of the user's tests as the starting code; and
        when it answers differently from the best so far on inputs no test covers
        (``differential``), it must also pass more tests than that best: a changed answer
        nobody checked is no gain."""
        s = self.state
        # weighted: the user's tests may not get worse; model tests count through fitness
        if outcome.error or outcome.trusted_passed < s.baseline_trusted \
                or outcome.fitness <= self._bar():
            return False
        best_passed = int(s.best["passed"]) if s.best else s.baseline_passed
        found = self._differential(outcome)  # recorded either way, for the judge
        if outcome.passed > best_passed or model_inputs.against(found.disagreements) < 1.0:
            return True  # more tests passed outrank any probe; model inputs weigh less
        s.notes.append(f"{Variant.from_dict(outcome.variant).key}: answers differently from "
                       f"the best so far on {len(found.disagreements)} of {found.inputs} "
                       "untested inputs and passes no more tests: not counted as better")
        return False

    def _differential(self, outcome: Outcome) -> differential.Comparison:
        """Compare ``outcome``'s code with the best so far on extra inputs; recorded on the
        outcome (``outcome.differential``). Pre-emption or a sandbox failure: no verdict."""
        s = self.state
        limit = self.ocfg.differential_inputs
        current = s.best["code"] if s.best else self._latest_for_prompt.code
        if limit <= 0 or not current.strip():
            return differential.Comparison()
        proposed = self._model_inputs()
        inputs = differential.probe_inputs(
            self.name, str(self._latest_for_prompt.extra.get("signature") or ""), self.tests,
            max(1, limit - len(proposed)))
        taken = {repr(a) for a in inputs}
        proposed = [a for a in proposed if repr(a) not in taken]
        sources = ["tests"] * len(inputs) + ["model"] * len(proposed)
        token = self.control.attempt_token()
        try:
            found = differential.compare(current, outcome.code, self.name, inputs + proposed,
                                         self.cfg.sandbox, token, sources)
        except Cancelled:
            self.control.cancel.raise_if_cancelled()
            found = differential.Comparison(error="pre-empted")
        finally:
            self.control.release(token)
        outcome.differential = found.to_dict()
        return found

    def _model_inputs(self) -> list[tuple]:
        """The calls the model proposed for differential testing, asked once a run (kept in
        the state, so a resumed run asks nothing); none when pre-empted (asked again later).
        """
        s = self.state
        if s.model_inputs is None:
            token = self.control.attempt_token()
            try:
                s.model_inputs, note = model_inputs.for_node(
                    self.engine, self._latest_for_prompt, self.tests, self._generators(),
                    self.ocfg.differential_model_inputs, token)
            except Cancelled:
                self.control.cancel.raise_if_cancelled()
                return []
            finally:
                self.control.release(token)
            if note:
                s.notes.append(note)
        return model_inputs.restore(s.model_inputs)

    def _vote(self, outcome: Outcome) -> None:
        """An independent candidate's verdicts update the stored credibility of the model
        tests (CodeT's dual agreement); this run keeps judging with the weights it began
        with."""
        if outcome.error or outcome.load_error or not outcome.code.strip() \
                or len(outcome.verdicts) != len(self.tests):
            return
        stored = self.store.frozen_tests(self.node_id)
        if not stored or not any(t.kind == "model" for t in stored):
            return
        voted = credibility.vote(stored, outcome.verdicts)
        self.store.update_test_credibility(self.node_id, voted,
                                           credibility.code_id(outcome.code))

    def _trusted_failures(self, outcome: Outcome) -> list[str]:
        """The user's tests ``outcome`` failed, as ``test -> failed`` lines."""
        out = []
        for test, ok in zip(self.tests, outcome.verdicts or [False] * len(self.tests)):
            if test.trusted and not ok:
                out.append(f"{test.source or test.call or test.code.splitlines()[-1]} -> failed")
        return out[:5]
