"""What DiSE knows, on request (``dise.lsp.features.status``) over a ``FakeContext``:
``dise.status``, ``dise.showArtifact`` and ``dise.findSimilar``, and their refusals."""

from __future__ import annotations

import pytest
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

from dise.lsp.features.status import Status, function_text_at
from support.feature_scenes import generate, improve, line_of
from support.lsp_double import MARKER
from support.lsp_harness import FINISHED_LINE, STUB_LINE, stub_file

pytestmark = pytest.mark.asyncio


async def test_status_by_node_and_by_place(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    node = (await generate(ctx, uri, STUB_LINE))["nodeId"]
    status = ctx.feature(Status)
    by_node = await status.cmd_status({"nodeId": node})
    assert by_node["fitness"] == pytest.approx(0.62) and by_node["queuePosition"] >= 1
    assert [v["version"] for v in by_node["versions"]] == [1]
    assert by_node["currentVersion"] == 1 and by_node["betterVersion"] is None
    def_line = line_of(ctx.text(uri), "def is_valid_email")
    by_place = await status.cmd_status({"uri": uri, "line": def_line})
    assert by_place["nodeId"] == node
    overview = await status.cmd_status()
    assert overview["jobs"] == [] and overview["knownFunctions"] == 1


async def test_status_names_the_better_version(ctx) -> None:
    uri = ctx.open("mod.py", stub_file("add_one", "Return x plus one."))
    node = (await generate(ctx, uri, STUB_LINE))["nodeId"]
    await improve(ctx, node)
    answer = await ctx.feature(Status).cmd_status({"nodeId": node})
    assert answer["version"] == 2 and answer["currentVersion"] == 1
    assert answer["betterVersion"] == 2 and answer["latestVersion"] == 2


async def test_status_refusals_say_what_is_wrong(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    status = ctx.feature(Status)
    missing = await status.cmd_status({"nodeId": "no_such_function"})
    assert missing["applied"] is False and "No stored function" in missing["reason"]
    assert any("No stored function" in m for m in ctx.messages(lsp.MessageType.Error))
    nothing = await status.cmd_status({"uri": uri, "line": FINISHED_LINE})
    assert nothing["reason"] == f"No DiSE-generated function at line {FINISHED_LINE + 1} of mod.py."
    with pytest.raises(JsonRpcInvalidParams):
        await status.cmd_status({"line": 3})


async def test_show_artifact_gives_code_tests_and_the_hover(ctx) -> None:
    uri = ctx.open("mod.py", stub_file("add_one", "Return x plus one."))
    node = (await generate(ctx, uri, STUB_LINE))["nodeId"]
    await improve(ctx, node)
    status = ctx.feature(Status)
    latest = await status.cmd_show_artifact({"nodeId": node})
    assert latest["version"] == 2 and "operator.add" in latest["code"]
    first = await status.cmd_show_artifact({"nodeId": node, "version": 1})
    assert first["version"] == 1 and MARKER in first["code"]
    assert "fitness" in first["markdown"] and "version: 1 of 2" in first["markdown"]


async def test_find_similar_without_a_function_or_query_is_refused(ctx) -> None:
    uri = ctx.open("mod.py", "x = 1\n")
    answer = await ctx.feature(Status).cmd_find_similar({"uri": uri, "line": 0})
    assert answer["applied"] is False
    assert answer["reason"] == ('dise.findSimilar takes {"uri", "line"} on a function, '
                                'or {"query"}.')


async def test_the_search_text_is_the_docstring_of_the_innermost_function() -> None:
    source = ('def outer():\n    """Outer."""\n    def inner():\n        """Inner."""\n'
              '        return 1\n    return inner\n')
    assert function_text_at(source, 4) == "Inner."
    assert function_text_at(source, 0) == "Outer."
    assert function_text_at("def f(:\n", 0) is None
