"""Known functions (``dise.lsp.features.known``) over a ``FakeContext``: what the server
remembers of the functions it generated, across reopen and restart (the real store), for
copies pasted elsewhere, and never for a namesake."""

from __future__ import annotations

import pytest

from dise.lsp.features.known import KnownFunctions
from support.feature_scenes import NAMESAKES, fake_context, generate, hover_text, line_of
from support.lsp_harness import STUB_LINE, stub_file

pytestmark = pytest.mark.asyncio


async def opened(ctx, name: str, text: str) -> str:
    """Open a document as the editor does and wait for the store's records of it."""
    uri = ctx.open(name, text)
    ctx.did_open(uri)
    await ctx.feature(KnownFunctions).wait_loaded(uri)
    return uri


async def test_a_restarted_server_knows_the_function_from_the_store(tmp_path) -> None:
    first = fake_context(tmp_path / "ws")
    uri = await opened(first, "mod.py", stub_file())
    node = (await generate(first, uri, STUB_LINE))["nodeId"]
    generated = first.text(uri)
    first.close_backend()

    again = fake_context(tmp_path / "ws")            # same workspace and DISE_HOME
    uri = await opened(again, "mod.py", generated)
    known = again.feature(KnownFunctions)
    assert known.index.loaded(uri)
    snap = again.snapshot(uri)
    found = known.known_at(snap, line_of(generated, "def is_valid_email"))
    assert found is not None
    assert found[0].node_id == node and found[1] is False        # not edited
    assert "0.62" in await hover_text(again, uri, line_of(generated, "def is_valid_email"))
    again.close_backend()


async def test_a_copy_pasted_into_another_file_is_recognised_by_its_text(ctx) -> None:
    uri = await opened(ctx, "mod.py", stub_file())
    await generate(ctx, uri, STUB_LINE)
    generated = ctx.text(uri)
    copy = "X = 1\n\n\n" + generated[generated.index("def is_valid"):]
    other = await opened(ctx, "copy.py", copy)
    assert "0.62" in await hover_text(ctx, other, 3)


async def test_closing_a_document_forgets_it(ctx) -> None:
    uri = await opened(ctx, "mod.py", stub_file())
    await generate(ctx, uri, STUB_LINE)
    known = ctx.feature(KnownFunctions)
    assert known.index.entries(uri) is not None
    ctx.close(uri)
    known.did_close(uri)
    assert known.index.entries(uri) is None and not known.index.loaded(uri)


async def test_a_namesake_is_not_dise_s_function(ctx) -> None:
    uri = await opened(ctx, "counting.py", NAMESAKES)
    node = (await generate(ctx, uri, line_of(NAMESAKES, "def add_one(x: int)")))["nodeId"]
    text = ctx.text(uri)
    known = ctx.feature(KnownFunctions)
    snap = ctx.snapshot(uri)
    assert known.known_at(snap, line_of(text, "def add_one(self, x)")) is None
    mine = known.known_at(snap, line_of(text, "def add_one(x: int)"))
    assert mine is not None and mine[0].node_id == node and mine[1] is False
    assert known.uris_with(node) == [uri]


async def test_a_store_that_cannot_record_costs_only_a_log_line(ctx) -> None:
    uri = await opened(ctx, "mod.py", stub_file())
    store = await ctx.store()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    store.set_location = broken
    result = await generate(ctx, uri, STUB_LINE)
    assert result["applied"] is True                      # the function is in the file
    assert any("could not record where is_valid_email went" in m and "disk full" in m
               for _, m in ctx.logged)
    # the index still knows it for this session
    assert "0.62" in await hover_text(ctx, uri, line_of(ctx.text(uri), "def is_valid_email"))
