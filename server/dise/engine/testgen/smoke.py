"""Smoke tests: calls of the function with plausible, typical inputs built from its type
hints (positive numbers, non-empty strings and containers).

They check that it does not crash: ``ValueError`` and ``KeyError`` count as a deliberate
rejection (the input may break a rule of the domain, a dict may lack the key), every other
exception, ``TypeError`` included, is a crash on a valid input. With a return annotation
``dise.sandbox.returns`` reads, the returned value must also be of that kind (``-> int``
returning None fails), judged outside the sandbox. Parameters without a hint or with a hint
we cannot sample mean no smoke test.
"""

from __future__ import annotations

import ast

from dise.engine.testgen.cases import dedupe
from dise.engine.types import FunctionSpec, TestCase
from dise.sandbox.returns import RETURNS_CALL, accepted_tags

#: Smoke calls per function.
SMOKE_LIMIT = 4
#: Exceptions that mean "rejected this input on purpose" in a smoke test.
SMOKE_ALLOWED_EXCEPTIONS = ["ValueError", "KeyError"]

_SAMPLES: dict[str, list[str]] = {
    "int": ["3", "10", "7", "1"],
    "float": ["2.5", "10.0", "0.5", "3.75"],
    "complex": ["(1+2j)", "(3-1j)", "2j", "(1+0j)"],
    "str": ["'hello'", "'Hello, World!'", "'abc123'", "'a'"],
    "bool": ["True", "False", "True", "False"],
    "bytes": ["b'hello'", "b'\\x00\\x01\\x02'", "b'abc'", "b'a'"],
    "bytearray": ["bytearray(b'hello')", "bytearray(b'ab')", "bytearray(b'x')",
                  "bytearray(b'xyz')"],
    "None": ["None"] * 4,
    "Any": ["3", "'hello'", "[1, 2, 3]", "2.5"],
    "object": ["3", "'hello'", "[1, 2, 3]", "2.5"],
}
_ALIASES = {"List": "list", "Dict": "dict", "Set": "set", "FrozenSet": "frozenset",
            "Tuple": "tuple", "Sequence": "list", "MutableSequence": "list",
            "Iterable": "list", "Collection": "list", "Mapping": "dict",
            "MutableMapping": "dict", "AbstractSet": "set", "typing.Any": "Any"}


def _annotation_samples(node: ast.expr | None, count: int) -> list[str] | None:
    """``count`` literal sources for values of the annotated type, or ``None``."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return _annotation_samples(ast.parse(node.value, mode="eval").body, count)
        except SyntaxError:
            return None
    if isinstance(node, ast.Constant) and node.value is None:
        return ["None"] * count
    if isinstance(node, ast.Attribute):
        return _annotation_samples(ast.Name(id=node.attr), count)
    if isinstance(node, ast.Name):
        name = _ALIASES.get(node.id, node.id)
        if name in _SAMPLES:
            return [_SAMPLES[name][i % len(_SAMPLES[name])] for i in range(count)]
        defaults = {"list": ast.Name("int"), "set": ast.Name("int"),
                    "frozenset": ast.Name("int"), "tuple": None, "dict": None}
        if name in ("list", "set", "frozenset"):
            return _container(name, defaults[name], count)
        if name == "tuple":
            return _annotation_samples(ast.parse("tuple[int, ...]", mode="eval").body, count)
        if name == "dict":
            return _annotation_samples(ast.parse("dict[str, int]", mode="eval").body, count)
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        # X | None: use X (a valid input must not be None to be interesting)
        left, right = node.left, node.right
        for side, other in ((left, right), (right, left)):
            if isinstance(other, ast.Constant) and other.value is None:
                return _annotation_samples(side, count)
        return _annotation_samples(left, count)
    if isinstance(node, ast.Subscript):
        base = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(
            node.value, "id", "")
        base = _ALIASES.get(base, base)
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base == "Optional":
            return _annotation_samples(args[0], count)
        if base == "Union":
            non_none = [a for a in args if not (isinstance(a, ast.Constant) and a.value is None)]
            return _annotation_samples(non_none[0], count) if non_none else None
        if base in ("list", "set", "frozenset"):
            return _container(base, args[0], count)
        if base == "tuple":
            if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
                items = _annotation_samples(args[0], count + 2)
                if items is None:
                    return None
                return [f"({', '.join(items[i:i + 3])},)" for i in range(count)]
            per_slot = [_annotation_samples(a, count) for a in args]
            if any(p is None for p in per_slot):
                return None
            return [f"({', '.join(p[i] for p in per_slot)}{',' if len(per_slot) == 1 else ''})"
                    for i in range(count)]
        if base == "dict" and len(args) == 2:
            keys = _annotation_samples(args[0], count + 2)
            values = _annotation_samples(args[1], count + 2)
            if keys is None or values is None:
                return None
            out = []
            for i in range(count):
                pairs = {keys[(i + j) % len(keys)]: values[(i + j) % len(values)]
                         for j in range(3 - i % 3)}
                out.append("{" + ", ".join(f"{k}: {v}" for k, v in pairs.items()) + "}")
            return out
        if base == "Literal":
            values = [ast.unparse(a) for a in args]
            return [values[i % len(values)] for i in range(count)]
    return None


def _container(kind: str, item: ast.expr | None, count: int) -> list[str] | None:
    items = _annotation_samples(item, count + 3)
    if items is None:
        return None
    sizes = [3, 4, 1, 2]
    out = []
    for i in range(count):
        size = sizes[i % len(sizes)]
        chosen = [items[(i + j) % len(items)] for j in range(size)]
        if kind == "list":
            out.append(f"[{', '.join(chosen)}]")
        else:
            body = "{" + ", ".join(dict.fromkeys(chosen)) + "}"
            out.append(body if kind == "set" else f"frozenset({body})")
    return out


def smoke_tests(spec: FunctionSpec, limit: int = SMOKE_LIMIT) -> list[TestCase]:
    """Calls with typical values for every hinted parameter; none when a parameter has no
    usable hint, for methods (``self``/``cls`` first), or when the signature is unknown."""
    if not spec.signature and not spec.params:
        return []
    params = [(n, a) for n, a in spec.params if n != "/"]
    if params and params[0][0] in ("self", "cls"):
        return []
    keyword_only = False
    columns: list[tuple[str, bool, list[str]]] = []
    for name, annotation in params:
        if name == "*" or (name.startswith("*") and not name.startswith("**")):
            keyword_only = True
            continue
        if name.startswith("**"):
            continue
        try:
            node = ast.parse(annotation, mode="eval").body if annotation else None
        except SyntaxError:
            return []
        samples = _annotation_samples(node, limit)
        if samples is None:
            return []
        columns.append((name, keyword_only, samples))
    returns = spec.returns.strip() if accepted_tags(spec.returns or "") is not None else ""
    tests = []
    for i in range(limit):
        args = [f"{name}={samples[i]}" if kw else samples[i] for name, kw, samples in columns]
        call = f"{spec.name}({', '.join(args)})"
        # with a return annotation we can read, the value's kind is checked too (outside the
        # sandbox, ``dise.sandbox.returns``): ``-> int`` returning None fails
        code = f"assert {RETURNS_CALL}({call}, {returns!r})" if returns else call
        tests.append(TestCase(kind="smoke", code=code, call=call,
                              allowed_exceptions=list(SMOKE_ALLOWED_EXCEPTIONS)))
    return dedupe(tests)
