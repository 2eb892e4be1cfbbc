"""Code lenses (``dise.lsp.features.lenses``) over a ``FakeContext``: "generate" above each
stub and ``# dise:`` comment, the fitness above each generated function, and the better
version's lenses when there is one."""

from __future__ import annotations

import pytest

from support.feature_scenes import NAMESAKES, generate, improve, lenses, line_of
from support.lsp_harness import COMMENT_LINE, FINISHED_LINE, STUB_LINE, stub_file

pytestmark = pytest.mark.asyncio


async def test_generate_lenses_above_the_stub_and_the_comment_only(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    found = await lenses(ctx, uri)
    assert (STUB_LINE, "DiSE: Generate `is_valid_email`") in found
    [comment] = [title for line, title in found if line == COMMENT_LINE]
    assert comment.startswith("DiSE: Generate") and "reverse the words" in comment
    assert {line for line, _ in found} == {STUB_LINE, COMMENT_LINE}
    assert FINISHED_LINE not in {line for line, _ in found}


async def test_a_generated_function_gets_its_fitness_lens_instead(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    await generate(ctx, uri, STUB_LINE)
    text = ctx.text(uri)
    found = await lenses(ctx, uri)
    def_line = line_of(text, "def is_valid_email")
    assert (def_line, "DiSE: fitness 0.62 · v1") in found
    assert not any("Generate `is_valid_email`" in title for _, title in found)


async def test_an_edit_marks_the_lens_and_the_lenses_follow_the_text(ctx) -> None:
    uri = ctx.open("mod.py", stub_file())
    await generate(ctx, uri, STUB_LINE)
    ctx.change(uri, "# a new first line\n" + ctx.text(uri).replace("[1]", "[2]"))
    found = await lenses(ctx, uri)
    def_line = line_of(ctx.text(uri), "def is_valid_email")
    assert (def_line, "DiSE: fitness 0.62 · v1 · edited") in found


async def test_only_dise_s_namesake_gets_the_fitness_lens(ctx) -> None:
    uri = ctx.open("counting.py", NAMESAKES)
    await generate(ctx, uri, line_of(NAMESAKES, "def add_one(x: int)"))
    text = ctx.text(uri)
    fitness = [line for line, title in await lenses(ctx, uri) if title.startswith("DiSE: fitness")]
    assert fitness == [line_of(text, "def add_one(x: int)")]


async def test_a_better_version_adds_accept_and_show_diff(ctx) -> None:
    uri = ctx.open("mod.py", stub_file("add_one", "Return x plus one."))
    result = await generate(ctx, uri, STUB_LINE)
    await improve(ctx, result["nodeId"])
    def_line = line_of(ctx.text(uri), "def add_one")
    titles = [title for line, title in await lenses(ctx, uri) if line == def_line]
    assert "⚡ Better version available 0.62 → 0.95" in titles
    assert "Accept" in titles and "Show diff" in titles
    assert ctx.lens_refreshes >= 1          # the editor is asked to fetch them again


async def test_no_lenses_for_documents_the_editor_did_not_open(ctx) -> None:
    assert await lenses(ctx, ctx.uri("never-opened.py")) == []
