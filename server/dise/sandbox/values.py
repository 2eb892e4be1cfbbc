"""The harness's reported values, read as data: decoding, rendering and the one-line cap.

The sandbox reports every value as a tagged tree (``dise_harness.report.encode``); ``decode``
turns one back into built-in Python values without calling anything the candidate made, and
``render``/``short`` show it as ``repr`` would, for the failure messages ``verdict`` writes.
A tree that is not plain data (class instances with their own ``__eq__``, cycles, too much
data) raises ``CannotCompare`` with the reason.
"""

from __future__ import annotations

import datetime
import decimal
import fractions
from dataclasses import dataclass
from typing import Any

REPR_CHARS = 200
ERROR_CHARS = 400


class CannotCompare(Exception):
    """A reported value is not plain data; the message says why."""


def one_line(text: str, limit: int = ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Record:
    """A dataclass instance the candidate returned, as data: its class name and fields."""

    cls: str
    fields: tuple[tuple[str, Any], ...]


def decode(tree: Any) -> Any:
    """A tagged tree → built-in Python values (sets stay sets). Raises ``CannotCompare``."""
    if not isinstance(tree, dict) or "t" not in tree:
        raise CannotCompare("the sandbox sent something that is not a value")
    tag, v = tree["t"], tree.get("v")
    try:
        if tag == "unencodable":
            raise CannotCompare(str(tree.get("why") or "it is not plain data"))
        if tag in ("none", "bool", "str"):
            expected = {"none": type(None), "bool": bool, "str": str}[tag]
            if type(v) is not expected:
                raise CannotCompare("malformed value")
            return v
        if tag == "int":
            return int(v)
        if tag == "float":
            return float(v)
        if tag == "complex":
            return complex(float(v[0]), float(v[1]))
        if tag in ("bytes", "bytearray"):
            return (bytes if tag == "bytes" else bytearray).fromhex(v)
        if tag in ("list", "tuple", "set", "frozenset"):
            items = [decode(x) for x in v]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        if tag == "dict":
            return {decode(k): decode(x) for k, x in v}
        if tag == "namedtuple":
            return tuple(decode(x) for x in v)
        if tag == "dataclass":
            return Record(str(tree["cls"]), tuple(zip(map(str, tree["fields"]),
                                                      (decode(x) for x in v))))
        if tag == "decimal":
            return decimal.Decimal(v)
        if tag == "fraction":
            return fractions.Fraction(int(v[0]), int(v[1]))
        if tag in ("date", "datetime", "time"):
            return getattr(datetime, tag).fromisoformat(v)
        if tag == "timedelta":
            return datetime.timedelta(days=v[0], seconds=v[1], microseconds=v[2])
    except CannotCompare:
        raise
    except (TypeError, ValueError, KeyError, IndexError, decimal.InvalidOperation,
            ZeroDivisionError):
        raise CannotCompare("malformed value") from None
    raise CannotCompare(f"unknown kind of value {tag!r}")


def render(tree: Any) -> str:
    """``repr`` of the value a tree describes, built from the data in the sandbox's order."""
    tag, v = tree.get("t"), tree.get("v")
    if tag in ("list", "tuple", "set", "frozenset"):
        items = [render(x) for x in v]
        if tag == "list":
            return f"[{', '.join(items)}]"
        if tag == "tuple":
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        inner = f"{{{', '.join(items)}}}" if items else ""
        return (inner or "set()") if tag == "set" else f"frozenset({inner})"
    if tag == "dict":
        return "{" + ", ".join(f"{render(k)}: {render(x)}" for k, x in v) + "}"
    if tag in ("namedtuple", "dataclass"):
        parts = [f"{name}={render(x)}" for name, x in zip(tree["fields"], v)]
        return f"{tree['cls']}({', '.join(parts)})"
    if tag == "unencodable":
        return f"<a value that cannot be checked: {tree.get('why')}>"
    return repr(decode(tree))


def short(tree: Any) -> str:
    try:
        return one_line(render(tree), REPR_CHARS)
    except (CannotCompare, AttributeError, TypeError, KeyError, ValueError):
        return "<malformed value>"
