"""MBPP+ inputs with their Python types back.

The MBPP+ file stores ``base_input``/``plus_input`` as JSON, so every tuple, set and complex
number an input had arrives as a list (or a string). Called with those, a reference solution
such as ``add_lists(test_list, test_tup): return test_tup + tuple(test_list)`` raises, and a
judge that skips the inputs its reference rejects then passes *anything* (a wrong
``test_list + test_tup`` was scored correct). EvalPlus fixes this with a hand-kept table of
task ids; here the types come from the problem's own asserts instead: the arguments of the
MBPP asserts' calls (Python literals) are templates, and each JSON input is reshaped to the
containers and numbers its template has, recursively.

Rules: a JSON list becomes the container kind (list, tuple, set, frozenset) the templates at
that place have; its items are shaped by the template's items at the same position when the
templates have the input's length (fixed-shape records), else by any template item of a
matching kind (homogeneous sequences), and a list nested deeper than any template is shaped
like its parent (recursive data, Mbpp/580). A number where the template has a complex
number becomes ``complex``, and a string where the templates hold only numbers becomes that
complex, or the first of int, float that reads it; dict values are shaped like template values, and
digit string keys become ints where the templates have int keys. Where no template says
otherwise, the JSON value is kept.
"""

from __future__ import annotations

import ast
from typing import Any

_SEQ = (list, tuple, set, frozenset)


def templates(assertion: str, name: str) -> list[list[Any]]:
    """Argument values of each literal call of ``name`` in the MBPP ``assertion`` text."""
    found = []
    try:
        tree = ast.parse(assertion)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == name and not node.keywords:
            try:
                found.append([ast.literal_eval(a) for a in node.args])
            except (ValueError, TypeError, SyntaxError, RecursionError):
                continue
    return found


def shape(value: Any, examples: list[Any]) -> Any:
    """``value`` (as JSON gave it) with the types the template values ``examples`` have."""
    if isinstance(value, list):
        seqs = [t for t in examples if isinstance(t, _SEQ)]
        if not seqs:
            return value
        kind = type(seqs[0])
        ordered = [list(t) for t in seqs if isinstance(t, (list, tuple))]
        fixed = [t for t in ordered if len(t) == len(value)]
        pooled = [x for t in seqs for x in t]
        items = []
        for i, item in enumerate(value):
            here = [t[i] for t in fixed if _same_kind(item, t[i])]
            here += [x for x in pooled if _same_kind(item, x)]
            if not here and isinstance(item, list):
                here = seqs  # deeper than any template: nested like its parent (recursive data)
            items.append(shape(item, here))
        try:
            return kind(items)
        except TypeError:  # unhashable items for a set: keep the list
            return items
    if isinstance(value, dict):
        maps = [t for t in examples if isinstance(t, dict)]
        if not maps:
            return value
        int_keys = any(isinstance(k, int) for m in maps for k in m)
        str_keys = {k for m in maps for k in m if isinstance(k, str)}
        vals = [v for m in maps for v in m.values()]
        out = {}
        for k, v in value.items():
            if int_keys and isinstance(k, str) and k.lstrip("-").isdigit() and \
                    k not in str_keys:
                k = int(k)
            out[k] = shape(v, vals)
        return out
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and \
            not any(type(t) is type(value) for t in examples):
        numbers = [type(t) for t in examples if type(t) in (int, float, complex)]
        if complex in numbers or (isinstance(value, str) and numbers):
            for kind in (complex,) if complex in numbers else (int, float):
                try:
                    return kind(value)
                except ValueError:
                    continue
    return value


def _same_kind(value: Any, template: Any) -> bool:
    if isinstance(value, list):
        return isinstance(template, _SEQ)
    if isinstance(value, dict):
        return isinstance(template, dict)
    return isinstance(template, complex) or type(template) is type(value)


def shape_inputs(assertion: str, name: str, inputs: list[list[Any]]) -> list[list[Any]]:
    """Every input (a list of positional arguments) with the types of the asserts' calls."""
    calls = templates(assertion, name)
    out = []
    for args in inputs:
        same = [c for c in calls if len(c) == len(args)]
        out.append([shape(a, [c[i] for c in same]) for i, a in enumerate(args)])
    return out
