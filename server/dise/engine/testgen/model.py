"""Tests the model writes when too few were derived: the prompt that asks for assert
lines (``tests_prompt``) and reading them back from the answer (``model_tests``), without
duplicates or calls the model answered two ways (``drop_contradictions``). They are
hypotheses, weighed by ``dise.engine.credibility``.
"""

from __future__ import annotations

import ast

from dise.engine.extract import extract_asserts
from dise.engine.testgen.cases import dedupe
from dise.engine.types import FunctionSpec, TestCase


def model_tests(text: str, name: str, limit: int) -> list[TestCase]:
    """Asserts from a model answer that call ``name``, deduplicated, at most ``limit``."""
    tests = [TestCase(kind="model", code=code) for code in extract_asserts(text, name)]
    return drop_contradictions(dedupe(tests))[:max(limit, 0)]


def _compared_call(code: str) -> tuple[str, str] | None:
    """``assert f(x) == y`` → (dump of f(x), dump of y); None for other shapes."""
    try:
        stmt = ast.parse(code).body[0]
    except (SyntaxError, IndexError):
        return None
    test = getattr(stmt, "test", None)
    if (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], (ast.Eq, ast.Is))):
        return ast.dump(test.left), ast.dump(test.comparators[0])
    return None


def drop_contradictions(tests: list[TestCase]) -> list[TestCase]:
    """Small models sometimes assert two answers for one call; neither can be trusted."""
    answers: dict[str, set[str]] = {}
    for test in tests:
        pair = _compared_call(test.code)
        if pair:
            answers.setdefault(pair[0], set()).add(pair[1])
    return [t for t in tests
            if not ((pair := _compared_call(t.code)) and len(answers[pair[0]]) > 1)]


def tests_prompt(spec: FunctionSpec, request_text: str, limit: int) -> list[dict[str, str]]:
    """Chat messages asking the model for ``limit`` assert lines about the function."""
    signature = spec.signature or f"def {spec.name}(...):"
    doc = f'\n    """{spec.docstring}"""' if spec.docstring else ""
    example_args = ", ".join("..." for name, _ in spec.params
                             if name not in ("self", "cls", "/", "*"))
    user = (
        f"Task: {request_text.strip()}\n\n"
        f"Function:\n{signature}{doc}\n\n"
        f"Write {limit} Python assert statements that check {spec.name} on typical inputs "
        f"and edge cases. One assert per line, each calling {spec.name} directly and "
        f"comparing with a literal expected value, like:\n"
        f"assert {spec.name}({example_args}) == ...\n"
        f"Output only the assert lines: no imports, no function definition, no explanations."
    )
    return [
        {"role": "system", "content": "You write precise Python unit tests as plain assert "
                                      "statements."},
        {"role": "user", "content": user},
    ]
