"""Lifecycle and settings (``dise.lsp.features.lifecycle``) over a ``FakeContext``: bad
settings are told to the user once and the server runs on the defaults."""

from __future__ import annotations

import pytest
from lsprotocol import types as lsp

from dise.lsp.features.lifecycle import Lifecycle
from support.fake_context import FakeContext

pytestmark = pytest.mark.asyncio


def started(tmp_path, options) -> FakeContext:
    ctx = FakeContext(tmp_path, features=[Lifecycle])
    ctx.feature(Lifecycle).on_initialize(lsp.InitializeParams(
        capabilities=ctx.client_capabilities, initialization_options=options))
    ctx.feature(Lifecycle).initialized()
    return ctx


async def test_a_bad_initialization_option_is_told_once_and_the_defaults_used(tmp_path) -> None:
    ctx = started(tmp_path, {"dise": {"backnd": "ollama"}})
    [message] = ctx.messages(lsp.MessageType.Error)
    assert message.startswith("DiSE settings:") and "backnd" in message
    assert ctx.settings is not None and ctx.settings.raw == {}


async def test_good_options_are_used(tmp_path) -> None:
    ctx = started(tmp_path, {"dise": {"pipeline": {"optimise_below": 0.5}}})
    assert ctx.told == []
    assert ctx.settings.config.pipeline.optimise_below == 0.5


async def test_a_bad_change_of_configuration_keeps_the_settings(tmp_path) -> None:
    ctx = started(tmp_path, {"dise": {"pipeline": {"optimise_below": 0.5}}})
    await ctx.feature(Lifecycle).on_did_change_configuration(
        lsp.DidChangeConfigurationParams(settings={"dise": {"backend": "carrier-pigeon"}}))
    assert any("carrier-pigeon" in m for m in ctx.messages(lsp.MessageType.Error))
    assert ctx.settings.config.pipeline.optimise_below == 0.5
    await ctx.feature(Lifecycle).on_did_change_configuration(
        lsp.DidChangeConfigurationParams(settings={"dise": {"pipeline": {"optimise_below": 0.7}}}))
    assert ctx.settings.config.pipeline.optimise_below == 0.7
    assert any("DiSE settings updated." in m for _, m in ctx.logged)


async def test_shutdown_is_remembered_for_the_exit_code(tmp_path) -> None:
    ctx = started(tmp_path, None)
    ctx.feature(Lifecycle).shutdown()
    assert ctx.shutdown_received is True
