"""Fixtures of the feature unit tests: a ``FakeContext`` (tests/support/fake_context.py) with
every feature of ``dise serve`` over the ``DoubleEngine`` and the real store, in the test's
own workspace and ``DISE_HOME``."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.fake_context import FakeContext
from support.feature_scenes import fake_context


@pytest.fixture(autouse=True)
def _instant_double(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine double answers at once (its default wait is for the editor tests)."""
    monkeypatch.setenv("DISE_TEST_ENGINE_DELAY", "0")


@pytest.fixture
def ctx(tmp_path: Path):
    """A ``FakeContext`` over ``tmp_path/ws`` with every feature, the optimiser off."""
    context: FakeContext = fake_context(tmp_path / "ws")
    yield context
    context.close_backend()
