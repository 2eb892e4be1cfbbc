"""TEST-ONLY engine double for the Phase 2 editor tests. Never used outside tests.

Served by ``python -m support.lsp_serve_double support.lsp_phase2_double:Phase2DoubleEngine``:
the LSP double (a fixed, weak first version) plus frozen tests, so the real optimiser, sandbox and scoring judge candidates; the
model the optimiser asks is a ``ScriptedBackend`` answering ``BETTER_CODE`` (a correct version
that needs an import). Everything but the model is real.
"""

from __future__ import annotations

from dise.engine.types import Artifact, Request, TestCase
from support.lsp_double import DoubleEngine
from support.scripted_backend import ScriptedBackend

#: What the scripted model answers for ``add_one``: correct, and it needs ``import operator``.
BETTER_CODE = ("import operator\n\n\ndef add_one(n: int) -> int:\n"
               '    """Return n plus one."""\n    return operator.add(n, 1)\n')
FROZEN = [TestCase(kind="given", code="assert add_one(1) == 2"),
          TestCase(kind="given", code="assert add_one(0) == 1"),
          TestCase(kind="given", code="assert add_one(41) == 42")]


class Phase2DoubleEngine(DoubleEngine):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        backend = ScriptedBackend(BETTER_CODE)
        # what the optimiser's experiments ask for a model (as ``Engine(backend_factory=…)``)
        self.backend_factory = lambda gen, cfg: backend

    def _artifact(self, spec, request: Request) -> Artifact:
        artifact = super()._artifact(spec, request)
        artifact.tests = [t.to_dict() for t in FROZEN]
        artifact.tests_total, artifact.tests_passed = len(FROZEN), 1
        return artifact

    def generate(self, request, *, progress=None, cancel=None) -> Artifact:
        artifact = super().generate(request, progress=progress, cancel=cancel)
        self.store.freeze_tests(artifact.node_id, FROZEN)
        return artifact
