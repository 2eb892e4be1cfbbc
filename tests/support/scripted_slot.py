"""Fixtures that give a test's engines a ``ScriptedBackend`` (tests/support/scripted_backend.py).

Import them into a test module (``from support.scripted_slot import model_slot, scripted,
slot_factory``): ``scripted(*answers)`` installs a ScriptedBackend with those answers, and
``Engine(cfg, backend_factory=slot_factory(model_slot))`` hands it to every generator.
"""

from __future__ import annotations

import pytest

from support.scripted_backend import ScriptedBackend


@pytest.fixture
def model_slot():
    """The backend double this test's engines get (``Engine(backend_factory=…)``)."""
    return {}


def slot_factory(slot: dict):
    """A ``backend_factory`` answering ``slot["backend"]`` for every generator, or the real
    backend (``dise.llm.select.resolve_backend``) when no double was installed (model tests)."""
    from dise.engine.core import resolve_backend
    return lambda gen, cfg: slot["backend"] if "backend" in slot else resolve_backend(gen, cfg)


@pytest.fixture
def scripted(model_slot):
    """Install a ScriptedBackend with the given answers as the model of the test's engine."""
    def install(*answers: str) -> ScriptedBackend:
        model_slot["backend"] = ScriptedBackend(*answers)
        return model_slot["backend"]
    return install
