"""What DiSE offers in a document, as lsprotocol values: better versions (diagnostic, lenses,
the replacement edit, a diff) and the lenses above generated functions and stubs.

Pure functions of a text and the index's ``Known`` entries; the ones that parse a whole file
(``offers``, ``diagnostics_for``, ``function_lenses``, ``prepare_replacement``) run in a worker.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Sequence

from lsprotocol import types as lsp

from dise.types import Artifact
from dise.lsp.documents import (
    Region,
    all_regions,
    edits_in_code_points,
    qualified_name,
    region_hash,
    split_lines,
)
from dise.lsp.index import Known, locate
from dise.lsp.protocol import (
    CLIENT_SHOW_DIFF,
    COMMAND_ACCEPT,
    COMMAND_GENERATE,
    COMMAND_SHOW,
    TITLE_TEXT_CHARS,
    zero_range,
)
from dise.lsp.render import diagnostic_message, lens_title
from dise.lsp.targets import Target
from dise.lsp.verdicts import failing_tests_diagnostics

DIAGNOSTIC_SOURCE = "dise"
DIAGNOSTIC_CODE = "better-version"


def better_version(known: Known) -> Artifact | None:
    """The newer version to offer for a function in a file, or None.

    Offered when the store knows which version is in the file, a newer one scores higher, and
    the user did not dismiss it.
    """
    current, latest = known.current, known.artifact
    if current is None or latest.version <= current.version or latest.version <= known.dismissed:
        return None
    if latest.fitness_score <= current.fitness_score:
        return None
    return latest


def def_line_range(lines: Sequence[str], region: Region) -> lsp.Range:
    """The ``def`` line without its ending (code points; ASCII in practice for a def)."""
    text = lines[region.start].rstrip("\r\n")
    start = len(text) - len(text.lstrip())
    return lsp.Range(start=lsp.Position(line=region.start, character=start),
                     end=lsp.Position(line=region.start, character=len(text)))


def make_diagnostic(lines: Sequence[str], region: Region, known: Known,
                    better: Artifact) -> lsp.Diagnostic:
    """The Information diagnostic on the ``def`` line offering ``better``."""
    assert known.current is not None
    return lsp.Diagnostic(
        range=def_line_range(lines, region), severity=lsp.DiagnosticSeverity.Information,
        source=DIAGNOSTIC_SOURCE, code=DIAGNOSTIC_CODE,
        message=diagnostic_message(known.current, better),
        data={"nodeId": known.node_id, "version": better.version,
              "from": known.current.version})


def better_lenses(uri: str, region: Region, known: Known, better: Artifact) -> list[lsp.CodeLens]:
    """Three lenses above the function: what is better, Accept, Show diff."""
    assert known.current is not None
    where = zero_range(region.start)
    return [
        lsp.CodeLens(range=where, command=lsp.Command(
            title=lens_title(known.current, better), command=COMMAND_SHOW,
            arguments=[{"nodeId": known.node_id, "version": better.version}])),
        lsp.CodeLens(range=where, command=lsp.Command(
            title="Accept", command=COMMAND_ACCEPT,
            arguments=[{"uri": uri, "nodeId": known.node_id, "version": better.version}])),
        lsp.CodeLens(range=where, command=lsp.Command(
            title="Show diff", command=CLIENT_SHOW_DIFF,
            arguments=[{"nodeId": known.node_id, "from": known.current.version,
                        "to": better.version}])),
    ]


def generate_arguments(uri: str, version: int | None, target: Target) -> dict[str, Any]:
    """The ``dise.generate`` argument for ``target`` in that document version."""
    args: dict[str, Any] = {"uri": uri, "line": target.line, "version": version}
    if target.name:
        args["name"] = target.name
    return args


def generate_lens(uri: str, version: int | None, target: Target) -> lsp.CodeLens:
    """The "generate" lens above a stub or ``# dise:`` comment."""
    return lsp.CodeLens(range=zero_range(target.line), command=lsp.Command(
        title=target.title(TITLE_TEXT_CHARS), command=COMMAND_GENERATE,
        arguments=[generate_arguments(uri, version, target)]))


def function_lenses(source: str, known: Sequence[Known], uri: str = "") -> list[lsp.CodeLens]:
    """One lens above each generated function still in ``source`` (fitness, version, edited),
    and the better-version lenses where one is offered (a worker: one parse of the file)."""
    lines = split_lines(source)
    where = locate(lines, known)     # one pass; each node's own def, never a namesake
    lenses = []
    for item in known:
        region = where.get(item.node_id)
        if region is None:
            continue
        edited = region_hash(lines, region) != item.content_hash
        better = better_version(item)
        a = item.current if better is not None and item.current else item.artifact
        title = f"DiSE: fitness {a.fitness_score:.2f} · v{a.version}" + (
            " · edited" if edited else "")
        lenses.append(lsp.CodeLens(range=zero_range(region.start), command=lsp.Command(
            title=title, command=COMMAND_SHOW, arguments=[{"nodeId": item.node_id}])))
        if better is not None:
            lenses += better_lenses(uri, region, item, better)
    return lenses


def offers(source: str, known: Sequence[Known]) -> list[tuple[Region, Known, Artifact]]:
    """Functions of ``source`` with a better version: one pass over the file (a worker)."""
    if not any(better_version(k) is not None for k in known):
        return []
    lines = split_lines(source)
    where = locate(lines, known)      # each node's own def, never a namesake's
    found = []
    for item in known:
        region = where.get(item.node_id)
        better = better_version(item)
        if region is not None and better is not None:
            found.append((region, item, better))
    return found


def diagnostics_for(source: str, known: Sequence[Known]) -> list[lsp.Diagnostic]:
    """Better-version offers and "your tests fail" warnings (``dise.lsp.verdicts``)."""
    lines = split_lines(source)
    return [make_diagnostic(lines, region, item, better)
            for region, item, better in offers(source, known)] + \
        failing_tests_diagnostics(source, known)


@dataclass
class Replacement:
    """Edits (lines and code points of ``source``) that put a version into a function."""

    source: str
    new_source: str
    edits: list[tuple[int, int, int, int, str]]
    target: Any = None


def prepare_replacement(source: str, name: str, line: int, code: str) -> Replacement:
    """``dise.engine.stubs.replace_function`` as edits the server can send (a worker)."""
    from dise.engine import stubs

    result = stubs.replace_function(source, name, code, line=line)
    return Replacement(source=source, new_source=result.new_source,
                       edits=edits_in_code_points(source, result.edits))


def function_diff(lines: Sequence[str], region: Region, code: str, name: str) -> str:
    """A unified diff of the user's function against a stored version."""
    return "".join(difflib.unified_diff(
        split_lines(region.text(lines)), split_lines(code),
        fromfile=f"{name} (in the file)", tofile=f"{name} (optimised)"))


def placed(lines: Sequence[str], name: str, qualname: str, near: int) -> Region | None:
    """After a replacement: the def of ``name`` at ``qualname`` nearest to line ``near``
    (imports added above it move it down)."""
    regions = [r for r in all_regions(lines, {name}) if qualified_name(lines, r) == qualname]
    return min(regions, key=lambda r: abs(r.start - near)) if regions else None
