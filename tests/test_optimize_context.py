"""Phase 2 judges a method inside its class, as Phase 1 did (``experiments.request_for`` rebuilds
the file context; ``experiments.measure`` composes). Before, the optimiser saw the method alone:
its doctest ``Rectangle(2, 3).area()`` was not runnable and the prompt had no class. A scripted
model double writes the code; the sandbox and the file handling are real."""

from __future__ import annotations

import pytest

from dise.config import load_config
from dise.engine import core, stubs
from dise.engine.core import Engine
from dise.engine.types import Request
from dise.optimize import experiments
from dise.optimize.variants import Variant

from support.scripted_backend import ScriptedBackend

SHAPES = '''import math


class Rectangle:
    """A rectangle."""

    def __init__(self, w, h):
        self.w = w
        self.h = h

    def area(self) -> float:
        """Area.

        >>> Rectangle(2, 3).area()
        6
        """
        ...
'''

METHOD = "```python\ndef area(self):\n    return self.w * self.h\n```"


@pytest.fixture
def written(tmp_path, monkeypatch):
    """Phase 1 on ``area`` in a real file, its answer written into the file as the CLI does."""
    backend = ScriptedBackend(METHOD)
    monkeypatch.setattr(core, "resolve_backend", lambda gen, cfg: backend)
    path = tmp_path / "shapes.py"
    path.write_text(SHAPES)
    stub = stubs.find_stub(SHAPES, name="area")
    engine = Engine(load_config())
    artifact = engine.generate(Request(text=stub.spec.docstring, spec=stub.spec,
                                       file_source=SHAPES, file_path=str(path)))
    path.write_text(stubs.splice(SHAPES, stub, artifact.code, "area").new_source)
    tests = engine.store.frozen_tests(artifact.node_id)
    return engine, artifact, tests, backend, path


def test_the_request_holds_the_file_with_the_method_emptied_again(written):
    _, artifact, tests, _, path = written
    request, spec = experiments.request_for(artifact, tests)
    assert request.file_path == str(path)
    assert "class Rectangle" in request.file_source
    assert "return self.w * self.h" not in request.file_source  # the body is a stub again
    assert spec.signature == "def area(self) -> float:"
    assert experiments.context_for(request, spec).qualname == ["Rectangle", "area"]


def test_a_phase2_candidate_for_a_method_is_tested_in_its_class(written):
    engine, artifact, tests, backend, _ = written
    backend.calls.clear()
    outcome = experiments.run_variant(engine, artifact, tests,
                                      Variant("qwen-0.5b", 0.0))
    assert outcome.test_kinds.get("doctest") == [1, 1], outcome.failures
    assert "class Rectangle" in backend.calls[0][-1]["content"]  # shown its class too
    report, _ = experiments.measure(artifact.code, "area", tests, engine.cfg, None,
                                    experiments.context_for(*experiments.request_for(
                                        artifact, tests)))
    assert report.all_passed  # the baseline is measured the same way


def test_a_wrong_method_body_fails_its_doctest_in_phase2(written, monkeypatch):
    engine, artifact, tests, _, _ = written
    wrong = ScriptedBackend("```python\ndef area(self):\n    return self.w + self.h\n```")
    monkeypatch.setattr(core, "resolve_backend", lambda gen, cfg: wrong)
    outcome = experiments.run_variant(engine, artifact, tests,
                                      Variant("qwen-0.5b", 0.0))
    assert outcome.test_kinds.get("doctest") == [0, 1]


def test_without_its_file_the_request_is_the_bare_one(written):
    _, artifact, tests, _, path = written
    path.unlink()
    request, spec = experiments.request_for(artifact, tests)
    assert request.file_source == "" and spec.name == "area"
