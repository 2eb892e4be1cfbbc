"""What Phase 2 tries and what it gets back: ``Variant`` (a setup), ``Outcome`` (its result),
and ``plan``, the stage 1 variants of a node in a sensible default order.

A variant is a generator, a temperature, a prompt approach and a sampling seed. The approaches:

* ``plain``: the Phase 1 prompt, auto-fixes, no model repair;
* ``repair``: as plain, then up to ``repair_rounds`` model repair rounds shown the failing tests;
* ``few_shot`` / ``few_shot+repair``: the same with retrieved verified functions as examples.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dise.config import OptimizeConfig
from dise.engine.types import Artifact, DiseError

APPROACHES: tuple[str, ...] = ("plain", "repair", "few_shot", "few_shot+repair")
#: Phase 1 generates, auto-fixes and repairs: these approaches repeat it with its own setup.
PHASE1_APPROACHES = ("plain", "repair")


@dataclass(frozen=True)
class Variant:
    """One setup to try: generator, temperature, prompt approach and sampling seed (0: the
    generator's own seed; other seeds matter only above T=0)."""

    generator: str
    temperature: float
    approach: str = "plain"
    seed: int = 0

    @property
    def few_shot(self) -> bool:
        return "few_shot" in self.approach

    @property
    def repair(self) -> bool:
        return "repair" in self.approach

    @property
    def key(self) -> str:
        """``generator@temperature/approach`` (the registry's setup), ``#seed`` when not 0."""
        return f"{self.setup}#{self.seed}" if self.seed else self.setup

    @property
    def setup(self) -> str:
        """``generator@temperature/approach``: what the registry learns (seed left out)."""
        return f"{self.generator}@{self.temperature:g}/{self.approach}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Variant:
        return cls(str(data["generator"]), round(float(data["temperature"]), 3),
                   str(data.get("approach", "plain")), int(data.get("seed") or 0))


@dataclass
class Outcome:
    """What one experiment produced and how it scored (JSON-able via ``to_dict``)."""

    variant: dict[str, Any]
    code: str = ""
    fitness: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    passed: int = 0
    total: int = 0
    test_kinds: dict[str, list[int]] = field(default_factory=dict)
    latency: float | None = None
    coverage: float | None = None
    lint: list[str] = field(default_factory=list)
    load_error: str = ""
    killed: str = ""
    #: The sandbox's isolation level for this run ("bubblewrap", "namespaces", "process").
    isolation: str = ""
    failures: list[str] = field(default_factory=list)
    origin: str = ""
    tools: list[str] = field(default_factory=list)
    model: str = ""
    backend: str = ""
    generation_time: float = 0.0
    seconds: float = 0.0
    #: Why the experiment produced nothing (model missing, backend failed), else "".
    #: Such an attempt is a broken setup, not a "no gain": it never counts against patience.
    error: str = ""
    #: Differential testing against the best so far (``differential.Comparison.to_dict``).
    differential: dict[str, Any] = field(default_factory=dict)
    #: Per frozen test (by index): did this candidate pass it? Its vote on the model tests.
    verdicts: list[bool] = field(default_factory=list)

    @property
    def trusted_passed(self) -> int:
        """The user's (trusted) tests this candidate passed."""
        return int((self.scores.get("evidence") or {}).get("trusted_passed", 0))

    @property
    def all_passed(self) -> bool:
        return not self.error and not self.load_error and self.total > 0 \
            and self.passed == self.total

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> dict[str, Any]:
        """For the persisted history: everything but the code."""
        data = self.to_dict()
        del data["code"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# -- planning -------------------------------------------------------------------------------
def check_approaches(approaches: Sequence[str]) -> None:
    for approach in approaches:
        if approach not in APPROACHES:
            raise DiseError(f"Unknown optimisation approach {approach!r} in [optimize] "
                            f"approaches; use {', '.join(APPROACHES)}.")


def _same_setup(variant: Variant, artifact: Artifact) -> bool:
    """The variant would redo how ``artifact`` was made (same model, temperature and seed)."""
    if variant.generator != artifact.generator_used or variant.seed \
            or abs(variant.temperature - artifact.temperature) > 1e-9:
        return False
    made_with = artifact.extra.get("approach")
    if made_with:
        return variant.approach == made_with
    return variant.approach in PHASE1_APPROACHES


def _planned_seeds(cfg: OptimizeConfig) -> set[int]:
    return {int(s) for s in (cfg.seeds or [0])} | {0}


def resample_seeds(cfg: OptimizeConfig, k: int) -> list[int]:
    """The ``k`` sampling seeds of best-of-k resampling: the first ones not in ``cfg.seeds``."""
    taken = _planned_seeds(cfg)
    return list(itertools.islice((s for s in itertools.count(1) if s not in taken), max(0, k)))


def is_resample(cfg: OptimizeConfig, variant: Variant) -> bool:
    """``variant`` is one of best-of-k resampling's extra samples (``resample_seeds``)."""
    return variant.seed not in _planned_seeds(cfg)


def plan(cfg: OptimizeConfig, artifact: Artifact, generators: Sequence[str], *,
         few_shot: bool, registry: dict[str, Any] | None = None,
         resample: int = 0) -> list[Variant]:
    """Stage 1 variants (the bandit's arms), in a sensible default order.

    The registry's winning setup for the task type comes first; then generators take turns,
    each walking its temperature × approach grid diagonally (then again with the other seeds
    of ``cfg.seeds``, above T=0 only), so the first few attempts already differ in every
    dimension. The runner picks from this list with ``bandit.choose``, which follows this
    order until evidence tells the setups apart. Variants that would redo how
    the current version was made are left out.

    ``resample`` > 0 (the current version fails a user's test): each generator also gets that
    many extra samples of the plain approach at the hottest temperature, with new seeds
    (``resample_seeds``), every other place in the order: sample-and-filter by the user's
    examples, as AlphaCode (Li et al., 2022) and CodeT do, since a small model's pass@k
    grows well past its pass@1.
    """
    check_approaches(cfg.approaches)
    approaches = [a for a in cfg.approaches if few_shot or "few_shot" not in a]
    temps = [round(float(t), 3) for t in cfg.temperatures]
    grid = sorted(itertools.product(range(len(temps)), range(len(approaches))),
                  key=lambda ta: (ta[0] + ta[1], ta[0]))
    seeds = list(dict.fromkeys(int(s) for s in (cfg.seeds or [0])))
    per_generator = [[Variant(g, temps[t], approaches[a], seed) for seed in seeds
                      for t, a in grid if seed == seeds[0] or temps[t] > 0]
                     for g in generators]
    ordered: list[Variant] = []
    if registry and registry.get("generator") in generators:
        temp = registry.get("temperature")
        approach = registry.get("approach") or "plain"
        if temp is not None and approach in approaches:
            ordered.append(Variant(registry["generator"], round(float(temp), 3), approach))
    grid_order = [v for layer in itertools.zip_longest(*per_generator)
                  for v in layer if v is not None]
    extra = [Variant(g, max(temps), "plain", seed) for seed in resample_seeds(cfg, resample)
             for g in generators] if resample > 0 and temps and max(temps) > 0 else []
    for i, variant in enumerate(grid_order):
        ordered.append(variant)
        if i % 2 == 0 and extra:
            ordered.append(extra.pop(0))
    ordered.extend(extra)
    seen: set[Variant] = set()
    out = []
    for variant in ordered:
        if variant in seen or _same_setup(variant, artifact):
            continue
        seen.add(variant)
        out.append(variant)
    return out
