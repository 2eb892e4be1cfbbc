"""The report channel to the trusted parent and the value encoding it carries: length-framed
JSON records holding data-only tagged trees (``encode``), never a verdict."""

from __future__ import annotations

import json
import os
import sys

from .limits import TestTimeout


#: Characters of a one-line error.
ERROR_CHARS = 400
#: Limits of one encoded value: nesting depth, number of nodes, characters of text in all.
MAX_DEPTH = 64
MAX_NODES = 100_000
MAX_CHARS = 1_000_000


class Channel:
    """Length-framed JSON records on the dedicated report pipe (``%08x`` length, then UTF-8).

    Kept apart from stdout/stderr, so whatever the candidate prints cannot corrupt a record.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, record: dict) -> None:
        data = json.dumps(record, ensure_ascii=False, allow_nan=False).encode("utf-8", "replace")
        data = b"%08x" % len(data) + data
        while data:
            data = data[os.write(self.fd, data):]


class Unencodable(Exception):
    """The value holds something that is not plain data (a class instance, a cycle, too much)."""


_SCALARS = {type(None): "none", bool: "bool", str: "str"}
_CONTAINERS = {list: "list", tuple: "tuple", set: "set", frozenset: "frozenset"}


class Encoder:
    """Turns a value into a JSON-able tagged tree: ``{"t": tag, "v": ...}``.

    Only exact built-in types (and namedtuples, dataclasses, a few stdlib value types) are
    encoded; subclasses and other objects raise ``Unencodable`` with a short reason, so nothing
    the candidate defines (``__eq__``, ``__repr__``) is ever needed to compare it.
    """

    def __init__(self) -> None:
        self.nodes = 0
        self.chars = 0
        self.path: set[int] = set()

    def encode(self, value, depth: int = 0) -> dict:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise Unencodable(f"more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise Unencodable(f"nested deeper than {MAX_DEPTH}")
        kind = type(value)
        if kind in _SCALARS:
            if kind is str:
                self.count(len(value))
            return {"t": _SCALARS[kind], "v": value}
        if kind is int:
            text = int.__repr__(value)
            self.count(len(text))
            return {"t": "int", "v": text}
        if kind is float:
            return {"t": "float", "v": float.__repr__(value)}
        if kind is complex:
            return {"t": "complex", "v": [float.__repr__(value.real), float.__repr__(value.imag)]}
        if kind in (bytes, bytearray):
            self.count(2 * len(value))
            return {"t": kind.__name__, "v": bytes(value).hex()}
        if id(value) in self.path:
            raise Unencodable("it contains itself")
        self.path.add(id(value))
        try:
            return self.container(value, kind, depth)
        finally:
            self.path.discard(id(value))

    def count(self, chars: int) -> None:
        self.chars += chars
        if self.chars > MAX_CHARS:
            raise Unencodable(f"more than {MAX_CHARS} characters of data")

    def container(self, value, kind: type, depth: int) -> dict:
        if kind in _CONTAINERS:
            return {"t": _CONTAINERS[kind], "v": [self.encode(x, depth + 1)
                                                  for x in kind.__iter__(value)]}
        if kind is dict:
            return {"t": "dict", "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                       for k, v in dict.items(value)]}
        fields = getattr(kind, "_fields", None)
        if tuple in kind.__mro__ and isinstance(fields, tuple) and all(
                type(f) is str for f in fields) and len(fields) == tuple.__len__(value):
            return {"t": "namedtuple", "cls": kind.__name__, "fields": list(fields),
                    "v": [self.encode(x, depth + 1) for x in tuple.__iter__(value)]}
        special = self.stdlib_value(value, kind)
        if special is not None:
            return special
        dataclasses = sys.modules.get("dataclasses")
        if dataclasses is not None and hasattr(kind, "__dataclass_fields__") and \
                dataclasses.is_dataclass(value):
            names = [f.name for f in dataclasses.fields(value) if f.repr]
            return {"t": "dataclass", "cls": kind.__name__, "fields": names,
                    "v": [self.encode(object.__getattribute__(value, n), depth + 1)
                          for n in names]}
        if isinstance(value, BaseException):
            raise Unencodable(f"it is an exception object ({kind.__name__})")
        raise Unencodable(f"it is an instance of {kind.__qualname__}, not plain data")

    @staticmethod
    def stdlib_value(value, kind: type) -> dict | None:
        module = sys.modules.get(getattr(kind, "__module__", ""))
        name = kind.__name__
        if module is None or kind is not getattr(module, name, None):
            return None
        if module.__name__ in ("decimal", "_decimal", "_pydecimal") and name == "Decimal":
            return {"t": "decimal", "v": module.Decimal.__str__(value)}
        if module.__name__ == "fractions" and name == "Fraction":
            return {"t": "fraction", "v": [int.__repr__(value.numerator),
                                           int.__repr__(value.denominator)]}
        if module.__name__ == "datetime" and name in ("date", "datetime", "time"):
            if name != "date" and value.tzinfo is not None:
                return None
            return {"t": name, "v": getattr(module, name).isoformat(value)}
        if module.__name__ == "datetime" and name == "timedelta":
            return {"t": "timedelta", "v": [value.days, value.seconds, value.microseconds]}
        return None


def encode(value) -> dict:
    """The tagged tree for ``value``, or ``{"t": "unencodable", "why": reason}``."""
    try:
        return Encoder().encode(value)
    except Unencodable as exc:
        return {"t": "unencodable", "why": str(exc)}
    except RecursionError:
        return {"t": "unencodable", "why": "nested too deeply"}
    except TestTimeout:
        raise
    except Exception as exc:  # e.g. a dataclass field property that raises
        return {"t": "unencodable", "why": f"reading it raised {type(exc).__name__}"}


def one_line(text: str, limit: int = ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:  # a broken __str__ must not break the report
        return f"<str() of the {type(exc).__name__} failed>"
