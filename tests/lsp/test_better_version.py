"""Better versions in the editor (``dise.lsp.features.better_version``) over a
``FakeContext``: the diagnostic on a function the optimiser improved, the hover's comparison,
``dise.dismissOptimized``, and diagnostics published with the text version they were
computed from.

Issue 14, bug 4: ``Phase2.refresh`` read the source, computed the diagnostics in a worker, and
published them with ``doc.version`` read afterwards; pygls updates that document in place, so
an edit that arrived meanwhile got diagnostics whose ranges belong to the older text. Here the
parse worker applies a user's edit while the diagnostics are computed (``ctx.meanwhile``). The
real server's diagnostics are tested end to end in test_lsp_better_version.py.
"""

from __future__ import annotations

import time

import pytest
from lsprotocol import types as lsp

from dise.engine.types import Artifact
from dise.lsp.documents import all_regions, lsp_lines, region_hash
from dise.lsp.features.better_version import BetterVersion
from dise.lsp.features.known import KnownFunctions
from dise.lsp.features.status import Status
from dise.lsp.index import Known
from support.feature_scenes import generate, hover_text, improve, line_of
from support.lsp_harness import STUB_LINE, stub_file

pytestmark = pytest.mark.asyncio
STUB = stub_file("add_one", "Return x plus one.")


async def test_an_improved_function_gets_the_better_version_diagnostic(ctx) -> None:
    uri = ctx.open("counting.py", STUB)
    node = (await generate(ctx, uri, STUB_LINE))["nodeId"]
    assert ctx.last_diagnostics(uri) == []
    await improve(ctx, node)
    [diagnostic] = ctx.last_diagnostics(uri)
    assert diagnostic.severity == lsp.DiagnosticSeverity.Information
    assert diagnostic.source == "dise" and diagnostic.code == "better-version"
    assert diagnostic.message == ("Better version available: fitness 0.62 → 0.95 "
                                  "(v2, qwen-0.5b @ 0.3)")
    assert diagnostic.range.start.line == line_of(ctx.text(uri), "def add_one")
    assert ctx.diagnostics[-1].version == ctx.snapshot(uri).version


async def test_a_worse_version_is_not_offered(ctx) -> None:
    uri = ctx.open("counting.py", STUB)
    node = (await generate(ctx, uri, STUB_LINE))["nodeId"]
    await improve(ctx, node, fitness=0.4)
    assert ctx.last_diagnostics(uri) == []


async def test_the_hover_compares_the_version_in_the_file_with_the_better_one(ctx) -> None:
    uri = ctx.open("counting.py", STUB)
    node = (await generate(ctx, uri, STUB_LINE))["nodeId"]
    await improve(ctx, node)
    hover = await hover_text(ctx, uri, line_of(ctx.text(uri), "def add_one"))
    assert "| version in the file | v1 | 0.62 |" in hover
    assert "| better version | v2 | 0.95 |" in hover
    assert "DiSE: Accept optimized version (v2)" in hover


async def test_dismiss_clears_the_offer_and_is_remembered(ctx) -> None:
    uri = ctx.open("counting.py", STUB)
    node = (await generate(ctx, uri, STUB_LINE))["nodeId"]
    await improve(ctx, node)
    before = ctx.text(uri)
    answer = await ctx.feature(BetterVersion).cmd_dismiss({"nodeId": node, "version": 2})
    assert answer == {"dismissed": True, "nodeId": node, "version": 2}
    assert ctx.last_diagnostics(uri) == [] and ctx.text(uri) == before
    status = await ctx.feature(Status).cmd_status({"nodeId": node})
    assert status["dismissedVersion"] == 2 and status["betterVersion"] is None
    # a still better version later is offered again
    await improve(ctx, node, fitness=0.99)
    assert [d.data["version"] for d in ctx.last_diagnostics(uri)] == [3]


# -- the version diagnostics are published with (issue 14, bug 4) -----------------------------
SOURCE = "def add_one(x):\n    return x + 1\n"


def version(number: int, fitness: float) -> Artifact:
    return Artifact(
        node_id="add_one", version=number, function_name="add_one", code="", prompt="",
        task_type="other", intent="interactive", generator_used="g", model="m", backend="b",
        temperature=0.3, generation_time=0.1, test_passed=True, tests_passed=1, tests_total=1,
        test_kinds={}, quality_score=1.0, latency=1e-6, coverage=1.0, fitness_score=fitness,
        tool_usage=[], phase="phase1", timestamp=time.time(), tests=[])


def editing(ctx, edits: list[str]) -> tuple[str, dict[int, str]]:
    """``counting.py`` known to hold v1 with v2 better; each worker call meanwhile prepends one
    of ``edits`` (a new version). Returns the uri and the text of every version."""
    uri = ctx.open("counting.py", SOURCE)
    texts = {1: SOURCE}
    lines = lsp_lines(SOURCE)
    [region] = all_regions(lines)
    ctx.feature(KnownFunctions).index.add(uri, Known(
        node_id="add_one", name="add_one", content_hash=region_hash(lines, region),
        artifact=version(2, 0.9), current=version(1, 0.5)))

    def type_one(edit: str):
        def typed() -> None:
            ctx.change(uri, edit + ctx.text(uri))
            texts[ctx.snapshot(uri).version] = ctx.text(uri)
        return typed

    ctx.meanwhile += [type_one(edit) for edit in edits]
    return uri, texts


def def_line_of(texts: dict[int, str], params: lsp.PublishDiagnosticsParams) -> str:
    [diagnostic] = params.diagnostics
    return texts[params.version].split("\n")[diagnostic.range.start.line]


async def test_an_edit_during_the_refresh_never_gets_the_old_ranges(ctx) -> None:
    uri, texts = editing(ctx, ["# a comment typed meanwhile\n"])
    await ctx.feature(BetterVersion).refresh(uri)
    [params] = ctx.diagnostics
    assert def_line_of(texts, params).startswith("def add_one")


async def test_a_document_that_keeps_changing_gets_the_version_it_was_computed_from(ctx) -> None:
    uri, texts = editing(ctx, [f"# edit {n}\n" for n in range(10)])
    await ctx.feature(BetterVersion).refresh(uri)
    [params] = ctx.diagnostics
    assert params.version < ctx.snapshot(uri).version
    assert def_line_of(texts, params).startswith("def add_one")
