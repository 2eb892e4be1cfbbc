"""Hover on a function (``dise.lsp.features.hover``) over a ``FakeContext``: what the user
sees on a function DiSE generated, on one they edited since, and on anything else."""

from __future__ import annotations

import asyncio

import pytest

from support.feature_scenes import NAMESAKES, fake_context, generate, hover_text, line_of
from support.lsp_harness import STUB_LINE, stub_file

pytestmark = pytest.mark.asyncio


async def test_a_generated_function_shows_its_metrics_on_every_line(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    await generate(ctx, uri, STUB_LINE)
    text = ctx.text(uri)
    hover = await hover_text(ctx, uri, line_of(text, "def is_valid_email"))
    for expected in ("`is_valid_email`", "fitness", "0.62", "3/4 passed", "doctest 1/1",
                     "model 2/3", "version: 1", "queued: fitness 0.62 < 0.8"):
        assert expected in hover, (expected, hover)
    assert "edited" not in hover
    body = line_of(text, "math.prod")
    assert await hover_text(ctx, uri, body) == hover


async def test_an_edited_function_says_so_and_keeps_the_generated_metrics(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    await generate(ctx, uri, STUB_LINE)
    ctx.change(uri, ctx.text(uri).replace("math.prod([1])", "math.prod([2])"))
    hover = await hover_text(ctx, uri, line_of(ctx.text(uri), "def is_valid_email"))
    assert "edited since generated" in hover and "0.62" in hover


async def test_nothing_on_the_users_own_functions_and_unknown_documents(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    await generate(ctx, uri, STUB_LINE)
    text = ctx.text(uri)
    assert await hover_text(ctx, uri, line_of(text, "def finished")) == ""
    assert await hover_text(ctx, uri, line_of(text, "import os")) == ""
    assert await hover_text(ctx, uri, 10_000) == ""
    assert await hover_text(ctx, ctx.uri("never-opened.py"), 0) == ""


async def test_a_namesake_above_the_generated_function_gets_no_hover(ctx) -> None:
    uri = ctx.open("counting.py", NAMESAKES)
    await generate(ctx, uri, line_of(NAMESAKES, "def add_one(x: int)"))
    text = ctx.text(uri)
    assert await hover_text(ctx, uri, line_of(text, "def add_one(self, x)")) == ""
    ours = await hover_text(ctx, uri, line_of(text, "def add_one(x: int)"))
    assert "`add_one`" in ours and "edited since generated" not in ours


async def test_the_hover_follows_the_threshold_in_the_settings(tmp_path) -> None:
    ctx = fake_context(tmp_path / "ws", {"pipeline": {"optimise_below": 0.5}})
    uri = ctx.open("mod.py", stub_file())
    await generate(ctx, uri, STUB_LINE)
    hover = await hover_text(ctx, uri, line_of(ctx.text(uri), "def is_valid_email"))
    assert "done: fitness ≥ 0.5" in hover and "queued" not in hover
    ctx.close_backend()


async def test_a_hover_right_after_opening_waits_for_the_stored_records(tmp_path) -> None:
    first = fake_context(tmp_path / "ws")
    uri = first.open("mod.py", stub_file())
    await generate(first, uri, STUB_LINE)
    generated = first.text(uri)
    first.close_backend()

    ctx = fake_context(tmp_path / "ws")          # a new server: nothing in memory
    ctx.hold = True                              # the io thread is busy
    uri = ctx.open("mod.py", generated)
    ctx.did_open(uri)
    hover = asyncio.ensure_future(hover_text(ctx, uri, line_of(generated, "def is_valid_email")))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not hover.done() and ctx.pending      # waiting for the store's records
    await ctx.release()
    assert "0.62" in await hover
    ctx.close_backend()
