"""The optimiser in the editor (``dise.lsp.features.optimizer``) over a ``FakeContext``:
``dise.optimize``'s scopes and refusals, the state notification, and the optimiser's events
reaching the editor (a better version's diagnostic, a progress bar).

The optimiser is the real ``dise.optimize.Optimizer`` over the real store, with ``start``
replaced by a no-op: requests are queued in the store, and no experiment runs behind a unit
test (the real runs are test_lsp_better_version.py's, end to end).
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

from dise.lsp.features.optimizer import Optimizer
from dise.optimize import Optimizer as Phase2Optimizer
from support.feature_scenes import BETTER_CODE, fake_context, generate, line_of
from support.lsp_harness import STUB_LINE, stub_file

pytestmark = pytest.mark.asyncio
ON = {"optimize": {"enabled": True}}


@pytest.fixture
def octx(tmp_path, monkeypatch):
    """A ``FakeContext`` whose optimiser is on but never starts its thread."""
    monkeypatch.setattr(Phase2Optimizer, "start", lambda self: None)
    context = fake_context(tmp_path / "ws", ON)
    yield context
    context.close_backend()


async def optimize(ctx, **params) -> dict:
    return await ctx.feature(Optimizer).cmd_optimize(params)


async def test_the_optimiser_switched_off_is_said_plainly(ctx) -> None:
    answer = await optimize(ctx, all=True)
    assert answer["queued"] == [] and answer["reason"].startswith(
        "DiSE's optimiser is off (optimize.enabled = false)")


async def test_optimize_scopes(octx) -> None:
    uri = octx.open("mod.py", stub_file())
    node = (await generate(octx, uri, STUB_LINE))["nodeId"]
    def_line = line_of(octx.text(uri), "def is_valid_email")
    assert (await optimize(octx, uri=uri, line=def_line))["queued"] == [node]
    assert (await optimize(octx, uri=uri))["queued"] == [node]
    assert (await optimize(octx, nodeId=node))["queued"] == [node]
    answer = await optimize(octx, all=True)
    assert answer["queued"] == [node] and "queued is_valid_email" in answer["message"]
    store = await octx.store()
    assert store.queue_position(node) is not None
    [(method, state)] = octx.notified[-1:]
    assert method == "dise/optimizerState" and "queue" in state


async def test_optimize_refusals_name_the_problem(octx) -> None:
    uri = octx.open("mod.py", stub_file())
    await generate(octx, uri, STUB_LINE)
    finished = line_of(octx.text(uri), "def finished")
    answer = await optimize(octx, uri=uri, line=finished)
    assert answer["queued"] == []
    assert answer["reason"] == (f"No DiSE-generated function at line {finished + 1} of "
                                "mod.py; put the cursor in one.")
    empty = octx.open("empty.py", "x = 1\n")
    answer = await optimize(octx, uri=empty)
    assert answer["reason"] == "empty.py has no DiSE-generated functions to optimise."
    answer = await optimize(octx, nodeId="nope")
    assert answer["queued"] == [] and "nope" in answer["reason"]
    with pytest.raises(JsonRpcInvalidParams):
        await optimize(octx, line=3)


async def test_an_improvement_the_optimiser_reports_reaches_the_editor(octx) -> None:
    uri = octx.open("counting.py", stub_file("add_one", "Return x plus one."))
    node = (await generate(octx, uri, STUB_LINE))["nodeId"]
    optimizer = octx.feature(Optimizer).optimizer
    assert optimizer is not None
    store = await octx.store()
    latest = store.versions(node)[-1]
    store.save(dataclasses.replace(latest, version=2, parent=latest.artifact_id,
                                   code=BETTER_CODE, fitness_score=0.95, phase="phase2",
                                   extra={}))
    optimizer._emit("progress", {"node": node, "message": f"Optimising {node}",
                                 "done": 1, "total": 2})
    optimizer._emit("improved", {"node_id": node})
    for _ in range(50):                       # the feature's event pump runs on the loop
        if octx.last_diagnostics(uri):
            break
        await asyncio.sleep(0.01)
    [diagnostic] = octx.last_diagnostics(uri)
    assert diagnostic.code == "better-version" and "0.62 → 0.95" in diagnostic.message
    [events] = [e for token, e in octx.work_done.events.items() if "optimize" in token]
    assert isinstance(events[0], lsp.WorkDoneProgressBegin)
    assert events[0].title == f"DiSE: optimising {node}" and events[0].percentage == 50
