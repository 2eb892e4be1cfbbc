"""Phase 1's best-of-k: more samples when the answer still fails the user's own tests.

Sample-and-filter, as AlphaCode (Li et al., 2022) and CodeT (Chen et al., 2022) do: a small
model's pass@k grows well past its pass@1, and the user's examples and asserts are a filter
that can be trusted. Phase 2 tries such answers for every function that fails its user's
tests (its plain-prompt setups and the best-of-k samples of ``[optimize] resample_k``) and
records, per task type and generator, whether one of a generator's first ``[pipeline]
best_of_k`` plain-prompt answers fixed the function (``outcome``, kept as the registry trial
``best-of-k/<generator>``). Phase 1 spends its k samples only where that evidence says they
pay (``policy``; ``best_of_k_when = "learned"``), or always, or never. When what was learned
is another generator's answers, a first answer that fails the user's tests goes to that
generator at once (``BestOfKSteps._cascade_target``, the cascade).

``BestOfKSteps`` is mixed into ``dise.engine.pipeline.Run`` and works on its state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dise.config import Config, GeneratorConfig
from dise.engine import autofix, prompts
from dise.engine.candidates import Candidate
from dise.engine.types import Cancelled, DiseError, FunctionSpec, TestCase
from dise.text import count_noun

#: Prefix of the registry trial that holds the evidence (``evidence_key``).
PREFIX = "best-of-k/"
#: Weight, in functions, of the share pooled over every task type in one task type's
#: estimate (empirical Bayes shrinkage: a type with little evidence follows the pool).
PRIOR_FUNCTIONS = 5.0
#: Distinct functions the samples must have fixed (over all task types) before the
#: evidence counts at all: one lucky fix is not a pattern.
MIN_FIXED = 2
#: Phase 1's sample seeds start here: far from Phase 2's planned and best-of-k seeds
#: (``dise.optimize.variants.resample_seeds``), so Phase 2 does not redraw them.
SEED_BASE = 1000
#: Phase 2 answers each generator must have given before their times are compared
#: (``learned_start``).
MIN_TIMED = 3


def evidence_key(generator: str) -> str:
    """The registry trial that holds ``generator``'s best-of-k evidence."""
    return f"{PREFIX}{generator}"


def outcome(samples: Sequence[Mapping[str, Any]], trusted: int, k: int) -> str | None:
    """What one Phase 2 run on a function that failed its user's tests says about best-of-k
    with one generator: "gain" when one of its first ``k`` plain-prompt answers (history
    entries, in the order drawn) passed all ``trusted`` user tests, "no_gain" when k were
    drawn and none did, None when fewer were drawn (the run stopped early: no evidence)."""
    if trusted <= 0 or k <= 0:
        return None
    for entry in samples[:k]:
        evidence = (entry.get("scores") or {}).get("evidence") or {}
        if not entry.get("error") and not entry.get("load_error") \
                and int(evidence.get("trusted_passed", 0)) >= trusted:
            return "gain"
    return "no_gain" if len(samples) >= k else None


def outcomes(history: Sequence[Mapping[str, Any]], trusted: int, k: int) -> dict[str, str]:
    """``outcome`` per generator over a Phase 2 run's history (entries with ``variant``
    ``{"generator", "approach"}`` and ``attempt``), from its counted plain-prompt answers in
    order: ``{generator: "gain" | "no_gain"}``, generators without evidence left out."""
    by_generator: dict[str, list[Mapping[str, Any]]] = {}
    for entry in history:
        variant = entry.get("variant") or {}
        if entry.get("attempt") and variant.get("approach") == "plain":
            by_generator.setdefault(str(variant.get("generator")), []).append(entry)
    found = {g: outcome(entries, trusted, k) for g, entries in by_generator.items()}
    return {g: result for g, result in found.items() if result}


def counts(records: Iterable[Mapping[str, Any]], generator: str
           ) -> dict[str, tuple[int, int]]:
    """``{task_type: (fixed, tried)}``: failing functions one of ``generator``'s first k plain
    answers fixed, and those where it gave k answers or a fix (``outcome``), from the
    registry records."""
    out = {}
    for rec in records:
        trial = ((rec.get("trials") or {}).get(evidence_key(generator))) or {}
        fixed = set(trial.get("gain") or ())
        tried = fixed | set(trial.get("no_gain") or ())
        if tried and rec.get("task_type"):
            out[str(rec["task_type"])] = (len(fixed), len(tried))
    return out


def fix_rate(by_type: Mapping[str, tuple[int, int]], task_type: str) -> tuple[float, int, int]:
    """(estimated share of ``task_type``'s failing functions that k samples fix, fixed, tried
    over all types). The type's own share is shrunk toward the pooled one with the weight of
    ``PRIOR_FUNCTIONS`` functions; 0.0 with no evidence at all."""
    fixed = sum(f for f, _ in by_type.values())
    tried = sum(t for _, t in by_type.values())
    if tried == 0:
        return 0.0, 0, 0
    pooled = fixed / tried
    own_fixed, own_tried = by_type.get(task_type, (0, 0))
    return (own_fixed + PRIOR_FUNCTIONS * pooled) / (own_tried + PRIOR_FUNCTIONS), fixed, tried


@dataclass(frozen=True)
class Policy:
    """How many extra samples Phase 1 draws when the user's tests still fail, from which
    generator, at what temperature, and why."""

    samples: int
    temperature: float
    reason: str
    generator: str = ""


def sample_generators(cfg: Config, generator: str, forced: bool = False) -> list[str]:
    """The generators Phase 1 may sample from: ``generator`` (the request's) first, then the
    others this machine can run, unless the request forced its generator."""
    if forced:
        return [generator]
    from dise.llm.select import eligible_generators

    return [generator] + [g for g in eligible_generators(cfg) if g != generator]


def policy(cfg: Config, records: Iterable[Mapping[str, Any]], task_type: str,
           generators: Sequence[str]) -> Policy:
    """Phase 1's best-of-k for a request of ``task_type``; ``generators`` are the ones it may
    sample from, the request's own first (``sample_generators``).

    The samples use Phase 2's hottest temperature (``[optimize] temperatures``), where the
    evidence comes from. "always": k samples of the request's generator. "learned": k samples
    of the generator whose samples have the highest estimated share of fixed functions
    (``fix_rate``), if at least ``MIN_FIXED`` functions were fixed by them and the share is at
    least ``best_of_k_min_rate``; else none. So with a bigger model installed, a request the
    small model gets wrong can be sampled from the bigger one, as a model cascade does
    (FrugalGPT, Chen et al., 2023), but only where Phase 2 saw it fix functions."""
    p = cfg.pipeline
    names = list(generators)
    temperature = max([float(t) for t in cfg.optimize.temperatures] or [0.0])
    if p.best_of_k <= 0 or p.best_of_k_when == "never" or not names:
        return Policy(0, temperature, "best-of-k off")
    if temperature <= 0:  # every sample would be the same answer
        return Policy(0, temperature, "best-of-k off: no temperature above 0 in "
                      "[optimize] temperatures")
    if p.best_of_k_when == "always":
        return Policy(p.best_of_k, temperature, "best-of-k always on", names[0])
    records = list(records)
    found = []
    for name in names:
        rate, fixed, tried = fix_rate(counts(records, name), task_type)
        found.append((rate, fixed, tried, name))
    learned = [f for f in found if f[1] >= MIN_FIXED and f[0] >= p.best_of_k_min_rate]
    if learned:
        rate, fixed, tried, name = max(learned, key=lambda f: f[0])  # ties: the first
        return Policy(p.best_of_k, temperature, f"learned: {name}'s answers fixed "
                      f"{evidence_text(records, name, task_type)}; estimated {rate:.0%} for "
                      f"{task_type}", name)
    rate, fixed, tried, name = found[0]
    if not any(f[2] for f in found):
        return Policy(0, temperature, "not learned yet: Phase 2 has not sampled a failing "
                      "function")
    return Policy(0, temperature, f"not learned yet: {name}'s answers fixed "
                  f"{evidence_text(records, name, task_type)}; estimated {rate:.0%} for "
                  f"{task_type}")


def evidence_text(records: Iterable[Mapping[str, Any]], generator: str, task_type: str) -> str:
    """"3 of 10 failing functions of all types in Phase 2 (1 of 2 math)": the pooled counts
    the estimate starts from, then the task type's own."""
    by_type = counts(records, generator)
    fixed = sum(f for f, _ in by_type.values())
    tried = sum(t for _, t in by_type.values())
    own_fixed, own_tried = by_type.get(task_type, (0, 0))
    return (f"{fixed} of {tried} failing functions of all types in Phase 2 ({own_fixed} of "
            f"{own_tried} {task_type or 'of this type'})")


def answer_seconds(states: Iterable[Mapping[str, Any]]) -> dict[str, tuple[float, int]]:
    """``{generator: (median seconds an answer took, answers)}`` over Phase 2's attempts that
    gave an answer (the node records' ``history``; ``generation_time``, in seconds)."""
    import statistics

    took: dict[str, list[float]] = {}
    for state in states:
        for entry in state.get("history") or ():
            seconds = entry.get("generation_time")
            if seconds and not entry.get("error"):
                name = str((entry.get("variant") or {}).get("generator"))
                took.setdefault(name, []).append(float(seconds))
    return {g: (statistics.median(t), len(t)) for g, t in took.items()}


def learned_start(cfg: Config, store: Any, task_type: str, default: str
                  ) -> tuple[str, str] | None:
    """The generator a request of ``task_type`` should start with instead of ``default``, and
    why; None to start with ``default``.

    When the learned plan (``policy``) would cascade to another generator and Phase 2 measured
    that generator's answers no slower than ``default``'s (``answer_seconds``, at least
    ``MIN_TIMED`` answers each), asking ``default`` first only adds time: with ``default``
    passing a share p of requests, the cascade costs t_default + (1 - p) t_other on average,
    which is never below t_other. FrugalGPT (Chen et al., 2023) learns the cascade's order the
    same way, from each model's cost and accuracy."""
    if cfg.pipeline.best_of_k_when != "learned":
        return None
    records = store.registry_records()
    plan = policy(cfg, records, task_type, sample_generators(cfg, default))
    if plan.samples <= 0 or plan.generator in ("", default):
        return None
    times = answer_seconds(store.optimizer_states())
    other, mine = times.get(plan.generator), times.get(default)
    if not other or not mine or min(other[1], mine[1]) < MIN_TIMED or other[0] > mine[0]:
        return None
    return plan.generator, (f"learned: its answers fixed "
                            f"{evidence_text(records, plan.generator, task_type)} and took "
                            f"{other[0]:.0f} s each, {default}'s {mine[0]:.0f} s")


def fails_trusted(candidate: Candidate, tests: Sequence[TestCase]) -> bool:
    """The candidate does not load, or fails one of the user's (trusted) tests."""
    return bool(failure_signature(candidate, tests))


def failure_signature(candidate: Candidate, tests: Sequence[TestCase]) -> tuple[str, ...]:
    """How ``candidate`` fails the user's (trusted) tests: its load error, or each failing
    test with its error line ("expected 5, got 4"); () when it passes them all. Two answers
    with the same signature behave alike on what the user asked for, as CodeT (Chen et al.,
    2022) and AlphaCode (Li et al., 2022) cluster samples by their behaviour on inputs."""
    if candidate.report.load_error:
        return (f"load: {candidate.report.load_error}",)
    return tuple(f"{r.code} -> {r.error}" for r, t in zip(candidate.report.results, tests)
                 if t.trusted and not r.passed)


class BestOfKSteps:
    """Phase 1's extra samples and early cascade (a mixin of ``dise.engine.pipeline.Run``)."""

    def _cascade_target(self, code: str, spec: FunctionSpec, tests: list[TestCase],
                        gen: GeneratorConfig) -> tuple[GeneratorConfig, Any, Candidate,
                                                       Policy] | None:
        """Where the request goes when its first answer already fails a user test.

        A model cascade decided at the first answer (FrugalGPT, Chen et al., 2023), with the
        user's tests as the cheap scorer: when the learned plan (``policy``) samples another
        generator for this task type and ``code`` (autofixed) fails one of the user's tests,
        that generator answers now, before ``gen`` writes tests or repairs. Phase 2 saw the
        other generator's answers fix such functions; the time ``gen``'s repair would take is
        what lets the other one answer within the request's budget.

        Returns (the other generator, its backend, ``code`` as tested on the user's tests,
        the plan), or None: no user tests, a forced generator, nothing learned, the answer
        passes, too little time left, or the other generator is not usable (said in tools).
        """
        trusted = [t for t in tests if t.trusted]
        if not trusted or self.request.generator or self.cfg.pipeline.best_of_k_when != "learned":
            return None
        plan = policy(self.cfg, self._registry_records(), self.task_type,
                      sample_generators(self.cfg, gen.name))
        if plan.samples <= 0 or plan.generator in ("", gen.name):
            return None
        with self.stage("tests", f"testing against your {count_noun(len(trusted), 'test')}…"):
            first = Candidate(code, self._run(code, spec, trusted), "model", tests=trusted)
            if fails_trusted(first, trusted) and code.strip():
                first = self._autofixed(first, code, spec, trusted)
        if not fails_trusted(first, trusted) or not self._fits(self.generation_time):
            return None
        usable = self._usable(plan.generator, "cascade")
        return None if usable is None else (*usable, first, plan)

    def _registry_records(self) -> list[dict[str, Any]]:
        """The store's registry records, read once per request (the cascade and the samples
        both plan from them)."""
        if self._records is None:
            self._records = self.engine.store.registry_records()
        return self._records

    def _usable(self, name: str, step: str) -> tuple[GeneratorConfig, Any] | None:
        """(generator ``name``, its backend), or None, said in the tools line, when it was
        removed from dise.toml or its model is not installed."""
        try:
            other = self.cfg.generators[name]
            return other, self.engine.backend(other)
        except (KeyError, DiseError) as exc:
            self.tools.append(f"{step}: {name} is not usable ({exc})")
            return None

    def _best_of_k(self, best: Candidate, spec: FunctionSpec, tests: list[TestCase],
                   backend, gen: GeneratorConfig) -> Candidate:
        """``best``, or the first of up to k new samples that passes every user test (the
        best-ranked one when none does), while the time budget lasts.

        Sampling stops early when a sample fails the user's tests exactly as an earlier
        answer did (``failure_signature``): the model keeps the same reading of the task at
        this temperature. In ``bench/phase1_draws.py`` (the 1.5B, 16 failing requests, every
        sample drawn) a sample agreed with the first answer on 10; of the 15 samples drawn
        after one, none passed the hidden tests (one passed the user's). Counts draws in
        ``samples_drawn`` (those that gave code); sets ``samples_agreed`` on that early stop
        (the repair round then follows, ``Run._test_and_fix``)."""
        if not any(t.trusted for t in tests) or not fails_trusted(best, tests):
            return best
        names = sample_generators(self.cfg, gen.name, forced=bool(self.request.generator))
        plan = policy(self.cfg, self._registry_records(), self.task_type, names)
        if plan.samples <= 0:
            return best
        first = None  # another generator's first draw is its own answer, as Phase 2 tried it
        if plan.generator != gen.name:
            usable = self._usable(plan.generator, "best-of-k")
            if usable is None:
                return best
            gen, backend = usable
            first = (gen.temperature, gen.seed)
        draws = [(plan.temperature, gen.seed + SEED_BASE + i + 1) for i in range(plan.samples)]
        if first is not None:
            draws[0] = first
        messages = prompts.generation_messages(self.request, spec, [], self.ctx)
        took, drawn, stopped, agreed = self.generation_time, 0, "", ""
        seen = {best.code.strip(): failure_signature(best, tests)}
        for i, (temperature, seed) in enumerate(draws):
            if not self._fits(took):
                stopped = (f"; stopped: another would not fit in the time left of the "
                           f"request's {self.budget_s:.0f} s budget")
                break
            start = time.perf_counter()
            with self.stage("samples", f"your tests still fail: sample {i + 1} of "
                                       f"{plan.samples} ({gen.name})…"):
                try:
                    raw = backend.generate(
                        messages, temperature=temperature, seed=seed, cancel=self.cancel,
                        max_tokens=prompts.answer_tokens(gen.max_tokens, spec))
                except Cancelled:
                    raise
                except DiseError as exc:  # e.g. the other model was removed since
                    self.tools.append(f"best-of-k: {gen.name} could not answer ({exc})")
                    break
                code = self._code_of(raw, spec)
                code = autofix.autofix(code, spec.name, None).code if code else ""
                if code.strip() in seen:  # the same code again: the same verdict, no run
                    signature, cand = seen[code.strip()], None
                else:
                    cand = Candidate(code, self._run(code, spec, tests), "sample",
                                     tests=tests, temperature=temperature, seed=seed,
                                     generator=gen.name, model=backend.model_label)
                    signature = failure_signature(cand, tests)
            drawn += 1
            self.samples_drawn += bool(code)  # an answer without code took no repair's place
            took = max(took, time.perf_counter() - start)
            if cand is not None and code and cand.rank() > best.rank():
                best = cand
            if not fails_trusted(best, tests):
                self.tools.append(f"best-of-k: sample {i + 1} of {plan.samples} passes your "
                                  f"tests ({plan.reason})")
                return best
            if signature in seen.values() and drawn < len(draws):
                agreed = (f"; stopped: sample {i + 1} fails your tests the same way as an "
                          "earlier answer, so more samples would likely fail too")
                self.samples_agreed = True
                break
            seen[code.strip()] = signature
        kept = "; kept the sample that passes most of them" if best.origin == "sample" else ""
        if not drawn:
            self.tools.append(f"best-of-k: no sample drawn: one would not fit in the time left "
                              f"of the request's {self.budget_s:.0f} s budget ({plan.reason})")
            return best
        self.tools.append(f"best-of-k: {drawn} of {plan.samples} samples drawn, none passes "
                          f"your tests{kept}{stopped or agreed} ({plan.reason})")
        return best
