"""TEST-ONLY steps for the feature unit tests (tests/lsp/) over a ``FakeContext``: generate a
stub through the real ``Generate`` feature (the engine is ``support.lsp_double.DoubleEngine``
over the real store), store a better version as the optimiser would, and ask what the editor
would (hover text, lenses, quick fixes).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from dise.lsp.features.accept import Accept
from dise.lsp.features.generate import Generate
from dise.lsp.features.hover import Hover
from dise.lsp.features.lenses import Lenses
from dise.lsp.setup import DEFAULT_FEATURES
from dise.types import Artifact
from support.fake_context import FakeContext
from support.lsp_double import DoubleEngine

#: The optimiser off unless a test turns it on: no Phase 2 thread behind a unit test.
NO_OPTIMIZER = {"optimize": {"enabled": False}}

#: A user's ``Helper.add_one`` above the stub DiSE generates (issue 14, bug 1).
NAMESAKES = ('"""Counting."""\n\n\n'
             "class Helper:\n"
             "    def add_one(self, x):\n"
             "        return x + 100\n\n\n"
             "def add_one(x: int) -> int:\n"
             '    """Return x plus one."""\n')
#: The better version the "optimiser" stores: correct, and it needs ``import operator``.
BETTER_CODE = ("import operator\n\n\ndef add_one(n: int) -> int:\n"
               '    """Return n plus one."""\n    return operator.add(n, 1)\n')


def fake_context(root: Path, options: dict[str, Any] | None = None, **kwargs: Any) -> FakeContext:
    """A ``FakeContext`` with every feature of ``dise serve`` over ``DoubleEngine``."""
    root.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("features", DEFAULT_FEATURES)
    return FakeContext(root, options={**NO_OPTIMIZER, **(options or {})},
                       engine=lambda cfg, store: DoubleEngine(cfg, store), **kwargs)


def line_of(text: str, needle: str) -> int:
    """The first 0-based line holding ``needle``."""
    for number, line in enumerate(text.splitlines()):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in:\n{text}")


async def generate(ctx: FakeContext, uri: str, line: int) -> dict[str, Any]:
    """Run ``dise.generate`` for the stub on ``line`` and check it was inserted."""
    result = await ctx.feature(Generate).cmd_generate({"uri": uri, "line": line})
    assert result["applied"] is True, result
    return result


async def improve(ctx: FakeContext, node_id: str, fitness: float = 0.95,
                  code: str = BETTER_CODE) -> Artifact:
    """Store a better version of ``node_id`` as the optimiser does, and publish
    ``improved(node_id)`` (what the ``Optimizer`` feature does when it hears of one)."""
    store = await ctx.store()
    latest = store.versions(node_id)[-1]
    better = dataclasses.replace(
        latest, version=latest.version + 1, parent=latest.artifact_id, code=code,
        fitness_score=fitness, generator_used="qwen-0.5b", temperature=0.3, phase="phase2",
        imports=["import operator"], extra={})
    store.save(better)
    await ctx.events.publish("improved", node_id)
    return better


async def hover_text(ctx: FakeContext, uri: str, line: int, character: int = 4) -> str:
    """The hover's Markdown at a position ("" when there is none)."""
    answer = await ctx.feature(Hover).on_hover(lsp.HoverParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        position=lsp.Position(line=line, character=character)))
    return answer.contents.value if answer is not None else ""


async def lenses(ctx: FakeContext, uri: str) -> list[tuple[int, str]]:
    """The code lenses as (line, title)."""
    found = await ctx.feature(Lenses).on_code_lens(lsp.CodeLensParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri)))
    return [(lens.range.start.line, lens.command.title) for lens in found if lens.command]


def code_actions(ctx: FakeContext, uri: str, line: int,
                 only: list[str] | None = None) -> list[lsp.CodeAction]:
    """Every feature's code actions for a cursor on ``line`` (as ``setup`` fans them out)."""
    params = lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        range=lsp.Range(start=lsp.Position(line=line, character=0),
                        end=lsp.Position(line=line, character=0)),
        context=lsp.CodeActionContext(diagnostics=[], only=only))
    actions: list[lsp.CodeAction] = []
    for feature in ctx.features():
        actions += feature.code_actions(params)
    return actions


def quick_fixes(ctx: FakeContext, uri: str, line: int) -> list[str]:
    """The titles of the Accept feature's quick fixes on ``line``."""
    return [a.title for a in ctx.feature(Accept).code_actions(lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        range=lsp.Range(start=lsp.Position(line=line, character=0),
                        end=lsp.Position(line=line, character=0)),
        context=lsp.CodeActionContext(diagnostics=[],
                                      only=[lsp.CodeActionKind.QuickFix])))]
