"""Differential testing's third source of inputs: calls the model proposes.

The tests' argument shapes and the type hints (``differential.probe_inputs``) only reach so
far: a function on dates, e-mail addresses or nested records needs inputs that look like its
domain, and the model that wrote it knows that domain. ``propose`` asks one usable generator,
once per optimisation run, for a few calls of the function with literal arguments ("edge
cases the examples do not cover") and keeps those that parse, match the signature's arity
and are not already called by a test.

What they are worth (``weight``): the model's inputs are hypotheses, like its tests, so a
disagreement on one weighs ``credibility.PRIOR`` (0.5: a model test before any vote) where a
disagreement on the tests' own argument shapes or the type hints weighs 1; and a
disagreement where either version *raised* on a model input weighs 0 (the model may have
stepped outside the function's domain, where any answer is allowed). The runner refuses a
candidate whose disagreements weigh 1 or more unless it passes more tests: a model input
never outranks a test.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

from dise.engine import credibility
from dise.engine.types import CancelToken, TestCase

#: Tokens for the model's answer: a handful of one-line calls.
MAX_TOKENS = 256

SYSTEM = ("You write test inputs for Python functions. Answer with calls only, one per line, "
          "literal arguments only, no assignments, no comments, no expected results.")


def messages(name: str, signature: str, description: str, known: Sequence[str],
             k: int) -> list[dict[str, str]]:
    """The request for ``k`` calls of ``name`` (``known``: calls the tests already make)."""
    shown = "\n".join(f"    {c}" for c in known[:6]) or "    (none)"
    sig = signature.strip() or f"{name}(...)"
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content":
                f"Function: {sig}\nWhat it does: {description.strip()[:1200] or name}\n"
                f"Calls the tests already make:\n{shown}\n\n"
                f"Write {k} different calls of {name} with literal arguments that probe edge "
                f"cases and typical inputs the calls above do not cover, one per line."}]


def parse_calls(text: str, name: str) -> list[tuple]:
    """Argument tuples of every ``name(<literals>)`` call in ``text`` (code fences, ``>>>``
    prompts and ``assert``/``print`` around them allowed; keyword arguments skipped)."""
    from dise.optimize.differential import literal_call_args

    found: list[tuple] = []
    for line in text.splitlines():
        line = line.strip().removeprefix(">>>").strip().rstrip(",;")
        if name not in line or line.startswith("```"):
            continue
        try:
            tree = ast.parse(line)
        except SyntaxError:
            continue
        found.extend(literal_call_args(tree, name))
    return found


def arity(signature: str, name: str) -> tuple[int, int] | None:
    """(required, most) positional arguments of ``signature``; None when unknown (``*args``
    or no parsable signature)."""
    text = signature.strip()
    if not text:
        return None
    if not text.startswith(("def ", "async def ")):
        text = f"def {name}{text if text.startswith('(') else '(' + text + ')'}"
    text = text.rstrip().rstrip(":") + ":\n    pass\n"
    try:
        fn = ast.parse(text).body[0]
    except SyntaxError:
        return None
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or fn.args.vararg:
        return None
    params = [a for a in fn.args.posonlyargs + fn.args.args if a.arg not in ("self", "cls")]
    return len(params) - len(fn.args.defaults), len(params)


def propose(backend: Any, name: str, signature: str, description: str,
            tests: Sequence[TestCase], k: int, *, seed: int = 0,
            cancel: CancelToken | None = None) -> list[tuple]:
    """Up to ``k`` new argument tuples for ``name`` from ``backend`` (an ``LLMBackend``) at
    T=0. Raises what the backend raises (``DiseError``, ``Cancelled``)."""
    from dise.optimize.differential import _literal_calls

    known = _literal_calls(tests, name)
    calls = [f"{name}({', '.join(repr(a) for a in args)})" for args in known]
    raw = backend.generate(messages(name, signature, description, calls, k), temperature=0.0,
                           max_tokens=MAX_TOKENS, seed=seed, cancel=cancel)
    bounds = arity(signature, name)
    seen = {repr(a) for a in known}
    out: list[tuple] = []
    for args in parse_calls(raw, name):
        if bounds and not bounds[0] <= len(args) <= bounds[1]:
            continue
        if repr(args) not in seen:
            seen.add(repr(args))
            out.append(args)
    return out[:k]


def weight(disagreement: dict[str, str]) -> float:
    """How much one disagreement (``differential.Comparison.disagreements`` entry) counts
    against a candidate: 1 for the tests' shapes and type hints; for a model-proposed input
    the credibility prior, or 0 when either version raised (outside the domain, maybe)."""
    if disagreement.get("source") != "model":
        return 1.0
    return 0.0 if "raises " in disagreement.get("detail", "") else credibility.PRIOR


def against(disagreements: Sequence[dict[str, str]]) -> float:
    """The summed weight of ``disagreements``; 1 or more refuses a candidate that passes no
    more tests than the best so far."""
    return sum(weight(d) for d in disagreements)


def for_node(engine: Any, artifact: Any, tests: Sequence[TestCase], usable: Sequence[str],
             k: int, cancel: CancelToken | None = None) -> tuple[list[str], str]:
    """The proposed inputs for ``artifact``'s function (as ``repr`` strings, for the run's
    persisted state) and a note for the run; the default generator asks when it is usable,
    else the first usable one, through the engine's backend factory (``pool.backend_for``).
    Nothing (and a note) when the model fails. Raises ``Cancelled``."""
    from dise.engine.types import Cancelled, DiseError
    from dise.optimize.pool import backend_for

    if k <= 0 or not usable:
        return [], ""
    cfg = engine.cfg
    name = cfg.pipeline.default_generator if cfg.pipeline.default_generator in usable \
        else usable[0]
    try:
        backend = backend_for(engine, cfg.generator(name), cfg)
        found = propose(backend, artifact.function_name,
                        str(artifact.extra.get("signature") or ""), artifact.prompt or "",
                        tests, k, cancel=cancel)
    except Cancelled:
        raise
    except DiseError as exc:
        return [], f"model-proposed inputs: {name} failed ({str(exc)[:120]})"
    return [repr(a) for a in found], f"model-proposed inputs: {len(found)} from {name}"


def restore(saved: Sequence[str]) -> list[tuple]:
    """The tuples ``for_node`` saved as text (unreadable ones dropped)."""
    out = []
    for text in saved:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, tuple):
            out.append(value)
    return out
