"""Does a returned value fit the function's return annotation? Decided outside the sandbox.

A smoke test calls the function with typical values of its parameters' types
(``dise.engine.testgen.smoke_tests``). Before this check it passed whenever the call did not
raise, so ``def count(s: str) -> int`` whose body forgot its ``return`` passed every smoke
test. When the return annotation is one we can read, the smoke test is written as
``assert _dise_returns(CALL, "ANNOTATION")``; ``sandbox.probes`` rewrites that to a probe of
CALL's value, and the parent compares the value's kind (the harness's tag: ``int``, ``none``,
``list``…) with the annotation here, like ``_dise_close`` for floats. The candidate only
reports a value; it never sees, nor can forge, the check.

What is read (``accepted_tags``): the built-in scalars and containers (``int``, ``float``,
``complex``, ``str``, ``bytes``, ``bytearray``, ``bool``, ``list``, ``tuple``, ``dict``,
``set``, ``frozenset``, ``None``), their ``typing`` names (``List``, ``Dict``…), subscripted
forms (only the outer kind is checked: ``list[int]`` → a list), ``Optional[X]``,
``Union[X, Y]`` and ``X | Y``. Python's numeric tower (PEP 484): an ``int`` fits ``float``
and ``complex``, a ``bool`` fits ``int``. Anything else (a class of the user's, ``Any``,
``Iterable``, a string annotation we cannot parse) is not checked: ``None`` from
``accepted_tags``. A value that cannot be encoded fits (we cannot tell).
"""

from __future__ import annotations

import ast

#: ``assert _dise_returns(CALL, "ANNOTATION")`` in a smoke test.
RETURNS_CALL = "_dise_returns"

_TAGS: dict[str, frozenset[str]] = {
    "int": frozenset({"int", "bool"}),
    "float": frozenset({"float", "int", "bool"}),
    "complex": frozenset({"complex", "float", "int", "bool"}),
    "bool": frozenset({"bool"}),
    "str": frozenset({"str"}),
    "bytes": frozenset({"bytes", "bytearray"}),
    "bytearray": frozenset({"bytearray"}),
    "list": frozenset({"list"}),
    "tuple": frozenset({"tuple", "namedtuple"}),
    "dict": frozenset({"dict"}),
    "set": frozenset({"set"}),
    "frozenset": frozenset({"frozenset"}),
    "None": frozenset({"none"}),
}
_ALIASES = {"List": "list", "Tuple": "tuple", "Dict": "dict", "Set": "set",
            "FrozenSet": "frozenset", "NoneType": "None"}


def accepted_tags(annotation: str) -> frozenset[str] | None:
    """The harness's value tags that fit ``annotation`` (source text), or None when the
    annotation is not one this module reads."""
    try:
        node = ast.parse(annotation.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return _tags(node)


def _tags(node: ast.expr) -> frozenset[str] | None:
    if isinstance(node, ast.Constant):
        if node.value is None:
            return _TAGS["None"]
        if isinstance(node.value, str):  # a quoted annotation
            return accepted_tags(node.value)
        return None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
            node.value.id in ("typing", "builtins"):
        return _tags(ast.Name(node.attr))
    if isinstance(node, ast.Name):
        return _TAGS.get(_ALIASES.get(node.id, node.id))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([node.left, node.right])
    if isinstance(node, ast.Subscript):
        base = node.value
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if name == "Optional":
            return _union([args[0], ast.Constant(None)])
        if name == "Union":
            return _union(args)
        return _tags(ast.Name(name)) if name else None
    return None


def _union(nodes: list[ast.expr]) -> frozenset[str] | None:
    out: set[str] = set()
    for node in nodes:
        tags = _tags(node)
        if tags is None:
            return None
        out |= tags
    return frozenset(out)


def fits(tree: object, annotation: str) -> bool:
    """Whether the harness's value tree ``tree`` fits ``annotation`` (True when either cannot
    be read: no evidence is no failure)."""
    tags = accepted_tags(annotation)
    if tags is None or not isinstance(tree, dict):
        return True
    tag = tree.get("t")
    return tag == "unencodable" or tag in tags
