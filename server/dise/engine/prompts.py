"""Chat prompts for generation and repair.

Kept short: small local models follow short, concrete instructions best, and every prompt
token costs time on a 2-core machine.
"""

from __future__ import annotations

from dise.engine.types import FunctionSpec, Request, RunReport

SYSTEM = (
    "You are an expert Python programmer. Answer with exactly one ```python code block that "
    "holds the needed imports and the complete function with a one-line docstring. No "
    "explanations, no examples, no tests, no input() and no printing."
)

Messages = list[dict[str, str]]


def _stub_text(spec: FunctionSpec) -> str:
    lines = [spec.signature or f"def {spec.name}(...):"]
    if spec.docstring:
        doc = spec.docstring.strip().replace('"""', '\\"\\"\\"')
        lines.append(f'    """{doc}"""')
    lines.append("    ...")
    return "\n".join(lines)


def generation_messages(request: Request, spec: FunctionSpec,
                        examples: list[tuple[str, str]] | None = None) -> Messages:
    """Messages asking for ``spec`` as described by ``request``.

    ``examples`` are (request, code) pairs of verified artifacts shown as few-shot context.
    """
    parts: list[str] = []
    for ex_request, ex_code in examples or []:
        parts.append(f"Example request: {ex_request}\n```python\n{ex_code.strip()}\n```")
    if spec.signature:
        parts.append("Complete this Python function. Keep its name, signature and docstring:\n"
                     f"```python\n{_stub_text(spec)}\n```")
        if request.text and request.text.strip() not in spec.docstring:
            parts.append(f"Task: {request.text.strip()}")
    else:
        parts.append(f"Write a Python function named `{spec.name}`. Task: {request.text.strip()}")
    if request.asserts:
        parts.append("It must pass these tests:\n```python\n" + "\n".join(request.asserts)
                     + "\n```")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def repair_messages(request: Request, spec: FunctionSpec, code: str, report: RunReport,
                    max_failures: int = 3) -> Messages:
    """Show the model its own code with the failing test output, once."""
    problems: list[str] = []
    if report.load_error:
        problems.append(report.load_error)
    for failure in report.failures(max_failures):
        problems.append(f"{failure.code}  ->  {failure.error}")
    base = generation_messages(request, spec)
    base.append({"role": "assistant", "content": f"```python\n{code.strip()}\n```"})
    base.append({"role": "user", "content":
                 "This code fails:\n" + "\n".join(f"- {p}" for p in problems)
                 + f"\n\nFix it. Answer with the corrected `{spec.name}` in one ```python block."})
    return base
