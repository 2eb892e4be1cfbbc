"""The test double keeps up with the protocol: ``FakeContext`` (tests/support/fake_context.py)
has every member of ``ServerContext``, so a feature unit test never passes because the fake
lacks what the real server would be asked for (``DiseServer`` is checked the same way)."""

from __future__ import annotations

import inspect

from dise.lsp.context import ServerContext
from dise.lsp.server import DiseServer
from support.fake_context import FakeContext


def members() -> set[str]:
    names = {n for n, _ in inspect.getmembers(ServerContext) if not n.startswith("_")}
    return names | set(ServerContext.__annotations__)


def test_the_fake_has_every_member_of_the_protocol(tmp_path) -> None:
    fake = FakeContext(tmp_path)
    assert sorted(n for n in members() if n not in dir(fake)) == []


def test_the_server_has_every_member_of_the_protocol() -> None:
    server = DiseServer()
    assert sorted(n for n in members() if n not in dir(server)) == []
