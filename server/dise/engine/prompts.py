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


#: Rough characters per token of Python and English, to size answers to what they repeat.
CHARS_PER_TOKEN = 3.0


def _stub_text(spec: FunctionSpec) -> str:
    """The stub re-rendered from its spec, when the user's own text is not at hand."""
    lines = [spec.signature or f"def {spec.name}(...):"]
    if spec.docstring:
        doc = spec.docstring.strip().replace('"""', '\\"\\"\\"')
        body = doc.split("\n")
        if len(body) == 1 and not doc.endswith('"'):
            lines.append(f'    """{doc}"""')
        else:  # closing quotes on their own line (PEP 257), never glued to a final quote
            lines.append('    """' + body[0])
            lines += [("    " + ln) if ln.strip() else "" for ln in body[1:]]
            lines.append('    """')
    lines.append("    ...")
    return "\n".join(lines)


def stub_context(request: Request, spec: FunctionSpec):
    """Where the stub lives in the request's file (``context.StubContext``), or None."""
    from dise.engine import context

    return context.locate(request.file_source, spec) if request.file_source else None


def generation_messages(request: Request, spec: FunctionSpec,
                        examples: list[tuple[str, str]] | None = None,
                        ctx=None) -> Messages:
    """Messages asking for ``spec`` as described by ``request``.

    A stub from a file is shown as the user wrote it (decorators, indentation, quotes) with
    its imports, the helpers its docstring names and, for a method, its class (``ctx``, a
    ``context.StubContext``, found from ``request.file_source`` when not given). The model is
    asked for the whole function but not to repeat a long docstring: the user's stays in the
    file either way. ``examples`` are (request, code) pairs of verified artifacts shown as
    few-shot context.
    """
    parts: list[str] = []
    for ex_request, ex_code in examples or []:
        parts.append(f"Example request: {ex_request}\n```python\n{ex_code.strip()}\n```")
    if ctx is None and spec.signature:
        ctx = stub_context(request, spec)
    if ctx is not None and ctx.kind == "method":
        parts.append(f"Complete the method `{spec.name}` of class `{ctx.qualname[-2]}` (it ends "
                     f"in a placeholder). Keep its signature:\n```python\n{ctx.prompt_text()}\n```"
                     f"\nAnswer with only the method `{spec.name}`, not the class.")
    elif ctx is not None:
        parts.append("Complete this Python function. Keep its name and signature:\n"
                     f"```python\n{ctx.prompt_text()}\n```")
    elif spec.signature:
        parts.append("Complete this Python function. Keep its name and signature:\n"
                     f"```python\n{_stub_text(spec)}\n```")
    else:
        parts.append(f"Write a Python function named `{spec.name}`. Task: {request.text.strip()}")
    if spec.signature:
        if request.text and request.text.strip() not in spec.docstring:
            parts.append(f"Task: {request.text.strip()}")
        if spec.docstring.count("\n") >= 2:
            parts.append("Do not repeat the docstring: a one-line docstring is enough.")
    if request.asserts:
        parts.append("It must pass these tests:\n```python\n" + "\n".join(request.asserts)
                     + "\n```")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def answer_tokens(base: int, spec: FunctionSpec, cap: int = 4096) -> int:
    """``max_tokens`` for an answer that may repeat the stub: the generator's ``base`` plus
    what repeating the docstring (and the signature) costs, at most ``cap``.

    Why: a model that copies a 60-line docstring back spends its whole budget inside it and
    leaves no code (issue 10, cause 4).
    """
    repeated = len(spec.docstring) + len(spec.signature)
    return int(min(cap, max(base, base + repeated / CHARS_PER_TOKEN)))


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
