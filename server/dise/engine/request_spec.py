"""From a request to the function to write: reject what cannot describe one, name the one it does.

``validate_request`` stops empty, huge or wordless requests, and given tests that do not
parse, before any model time is spent (``BadRequest``); ``spec_for`` picks the function's name and shape from the stub, the given
asserts or the request text (``dise.engine.request_names``).
"""

from __future__ import annotations

import ast
import builtins
import re

from dise.engine.request_names import spec_from_text
from dise.engine.types import DiseError, FunctionSpec, Request

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


class BadRequest(DiseError):
    """The request cannot describe a function."""


def validate_request(request: Request) -> None:
    """Reject empty or meaningless requests, and given tests that are not Python, before any
    model time is spent (``BadRequest``): a test dropped later would pass silently."""
    for given in request.asserts:
        code = given.strip()
        try:
            ast.parse(code)
        except SyntaxError as exc:
            raise BadRequest(f"The test {code!r} is not valid Python ({exc.msg}): fix it, "
                             "e.g. \"add(2, 3) == 5\" (== compares, = assigns).") from None
    text = (request.text or "").strip()
    if request.spec and request.spec.name:
        return
    if not text:
        raise BadRequest('The request is empty: describe the function, e.g. '
                         'dise generate "check whether a string is a palindrome".')
    if len(text) > 20_000:
        raise BadRequest(f"The request is {len(text):,} characters long: describe one function "
                         "in a few sentences (at most 20,000 characters).")
    if not _WORD.search(text):
        raise BadRequest(f"The request {text[:40]!r} does not describe a function: say what it "
                         'should do, e.g. "reverse the words in a sentence".')


def spec_for(request: Request, name_hint: str) -> FunctionSpec:
    """The function to write: the stub's spec, else the name the given asserts call, else the
    name, signature, parameter names and return type the request itself gives
    ("is_valid_email(s: str) -> bool", "called clamp", "with parameters nums and k"), else
    a name from the naming convention."""
    if request.spec and request.spec.name:
        return request.spec
    for line in request.asserts:
        name = _called_name(line)
        if name:
            named = spec_from_text(request.text, name)
            return named if named is not None and named.name == name else \
                FunctionSpec(name=name, docstring=request.text.strip())
    named = spec_from_text(request.text, name_hint or "generated_function")
    if named is not None:
        return named
    return FunctionSpec(name=name_hint or "generated_function", docstring=request.text.strip())


def _called_name(assert_line: str) -> str:
    try:
        tree = ast.parse(assert_line.strip())
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if not hasattr(builtins, node.func.id):
                return node.func.id
    return ""
