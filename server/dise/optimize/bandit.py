"""Which experiment to run next: Thompson sampling over setups.

Every planned ``Variant`` is an arm. Its reward is Bernoulli: did the attempt give a better
candidate? Each arm keeps a Beta(1 + successes, 1 + failures) belief, built from

* this node's attempts so far: the same setup counts fully, the same generator and approach
  at another temperature or seed counts half (what fails cold often fails hot too);
* what worked for the task type on other functions: every function a setup won on (the
  registry's ``wins`` tally) adds ``prior_weight`` successes; the registry's current choice one
  more; every other function it was tried on without a gain (the registry's ``trials``, see
  ``dise.optimize.failures``) adds ``prior_weight`` failures.

The next variant is the arm with the largest draw from its belief. While no evidence tells the
arms apart (all beliefs equal) the plan's order decides, so a fresh node starts with the plan's
most informative setups.
Attempts that errored (model missing, backend failed) say nothing about the setup's quality and
are left out. This is how ShinkaEvolve (Sakana AI, 2025) chooses which model of its LLM
ensemble writes the next proposal: a bandit rewarding the models whose proposals improved
fitness; here the arms are whole setups (generator, temperature, approach, seed).

The draws come from a ``random.Random`` seeded with the node and the attempt number, so a
resumed run makes the same choices.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dise.optimize.variants import Variant

#: Weight of a sibling arm's result (same generator and approach, other temperature or seed).
SIBLING_WEIGHT = 0.5


@dataclass(frozen=True)
class Belief:
    """Beta(alpha, beta) over an arm's chance of giving a better candidate."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)


def beliefs(arms: Sequence[Variant], history: Sequence[dict[str, Any]],
            registry: dict[str, Any] | None, *, prior_weight: float = 1.0,
            node_id: str = "") -> list[Belief]:
    """One ``Belief`` per arm, from this node's ``history`` (``NodeState.history`` entries:
    ``variant`` dict, ``better``, ``error``) and the task type's ``registry`` record (whose
    trials on ``node_id`` itself are left out: the history has them)."""
    wins = dict((registry or {}).get("wins") or {})
    trials = dict((registry or {}).get("trials") or {})
    chosen = None
    if registry and registry.get("generator") and registry.get("temperature") is not None:
        chosen = Variant(registry["generator"], round(float(registry["temperature"]), 3),
                         registry.get("approach") or "plain").setup
    out = []
    for arm in arms:
        alpha = beta = 1.0
        alpha += prior_weight * len(wins.get(arm.setup) or ())
        alpha += 1.0 if arm.setup == chosen else 0.0
        trial = trials.get(arm.setup) or {}
        beta += prior_weight * len([n for n in trial.get("no_gain") or () if n != node_id
                                    and n not in (trial.get("gain") or ())])
        for entry in history:
            if entry.get("error"):
                continue
            tried = Variant.from_dict(entry["variant"])
            if tried.setup == arm.setup:
                weight = 1.0
            elif (tried.generator, tried.approach) == (arm.generator, arm.approach):
                weight = SIBLING_WEIGHT
            else:
                continue
            if entry.get("better"):
                alpha += weight
            else:
                beta += weight
        out.append(Belief(alpha, beta))
    return out


def choose(arms: Sequence[Variant], history: Sequence[dict[str, Any]],
           registry: dict[str, Any] | None, *, rng: random.Random,
           prior_weight: float = 1.0, node_id: str = "") -> Variant:
    """The arm with the largest Thompson draw (``arms`` must not be empty)."""
    if not arms:
        raise ValueError("no arms to choose from")
    found = beliefs(arms, history, registry, prior_weight=prior_weight, node_id=node_id)
    if len(set(found)) == 1:  # no evidence tells them apart: the plan's order
        return arms[0]
    draws = [(rng.betavariate(b.alpha, b.beta), -i) for i, b in enumerate(found)]
    return arms[max(range(len(arms)), key=lambda i: draws[i])]


def rng_for(node_id: str, attempts: int, running: int = 0) -> random.Random:
    """A reproducible generator for one choice of one node's run."""
    return random.Random(f"{node_id}:{attempts}:{running}")
