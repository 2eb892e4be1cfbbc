"""Better-version diagnostics are published with the text version they were computed from.

Issue 14, bug 4: ``Phase2.refresh`` read the source, computed the diagnostics in a worker, and
published them with ``doc.version`` read afterwards; pygls updates that document in place, so
an edit that arrived meanwhile got diagnostics whose ranges belong to the older text. Here the
``BetterVersion`` feature runs over a small TEST-ONLY ``ServerContext`` (``EditingContext``)
with exactly what ``refresh`` touches; its parse worker applies a user's edit while the
diagnostics are computed. The real server's
diagnostics are tested end to end in test_lsp_phase2.py.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from dise.engine.types import Artifact
from dise.lsp.context import Events, Snapshot
from dise.lsp.documents import all_regions, lsp_lines, region_hash
from dise.lsp.features.better_version import BetterVersion
from dise.lsp.features.known import KnownFunctions
from dise.lsp.index import Known

URI = "file:///w/counting.py"
SOURCE = "def add_one(x):\n    return x + 1\n"


def version(number: int, fitness: float) -> Artifact:
    return Artifact(
        node_id="add_one", version=number, function_name="add_one", code="", prompt="",
        task_type="other", intent="interactive", generator_used="g", model="m", backend="b",
        temperature=0.3, generation_time=0.1, test_passed=True, tests_passed=1, tests_total=1,
        test_kinds={}, quality_score=1.0, latency=1e-6, coverage=1.0, fitness_score=fitness,
        tool_usage=[], phase="phase1", timestamp=time.time(), tests=[])


@dataclass
class Doc:
    """Like pygls's TextDocument: one object, changed in place by each edit."""

    source: str
    version: int


class EditingContext:
    """TEST-ONLY ``ServerContext``: what ``BetterVersion.refresh`` uses; ``edits`` are applied
    while a parse worker runs."""

    def __init__(self, edits: list[str]) -> None:
        self.doc = Doc(SOURCE, 1)
        self.texts = {1: SOURCE}
        self.edits = list(edits)
        self.published: list[Any] = []
        self.events = Events()
        self.known = KnownFunctions(self)
        lines = lsp_lines(SOURCE)
        [region] = all_regions(lines)
        self.known.index.add(URI, Known(node_id="add_one", name="add_one",
                                        content_hash=region_hash(lines, region),
                                        artifact=version(2, 0.9), current=version(1, 0.5)))

    def get_feature(self, cls: type) -> Any:
        return self.known if cls is KnownFunctions else None

    def snapshot(self, uri: str) -> Snapshot | None:
        if uri != URI:
            return None
        return Snapshot(URI, self.doc.version, self.doc.source,
                        tuple(lsp_lines(self.doc.source)))

    async def in_parse(self, fn: Any, *args: Any) -> Any:
        result = fn(*args)
        if self.edits:                      # the user typed while the worker ran
            self.doc.source = self.edits.pop(0) + self.doc.source
            self.doc.version += 1
            self.texts[self.doc.version] = self.doc.source
        await asyncio.sleep(0)
        return result

    def publish_diagnostics(self, params: Any) -> None:
        self.published.append(params)


def def_line_of(server: EditingContext, params: Any) -> str:
    [diagnostic] = params.diagnostics
    return server.texts[params.version].split("\n")[diagnostic.range.start.line]


def test_an_edit_during_the_refresh_never_gets_the_old_ranges() -> None:
    server = EditingContext(edits=["# a comment typed meanwhile\n"])
    asyncio.run(BetterVersion(server).refresh(URI))
    [params] = server.published
    assert def_line_of(server, params).startswith("def add_one")


def test_a_document_that_keeps_changing_gets_the_version_it_was_computed_from() -> None:
    server = EditingContext(edits=[f"# edit {n}\n" for n in range(10)])
    asyncio.run(BetterVersion(server).refresh(URI))
    [params] = server.published
    assert params.version < server.doc.version
    assert def_line_of(server, params).startswith("def add_one")
