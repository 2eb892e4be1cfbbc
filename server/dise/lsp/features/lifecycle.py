"""Lifecycle and settings: ``initialize`` (settings from ``initializationOptions``),
``initialized`` (start the backend), ``shutdown`` and ``workspace/didChangeConfiguration``.

Bad settings are told to the user once, and the server runs on the defaults.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types as lsp

from dise.config import Config, ConfigError
from dise.lsp.feature import Feature
from dise.lsp.protocol import SERVER_NAME, supports
from dise.lsp.settings import LspSettings, ServerSettings, build_settings, unwrap


class Lifecycle(Feature):
    """Runs first: the other features' hooks see the settings and a starting backend."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.startup_error: str | None = None

    def methods(self) -> dict[str, tuple[Any, Any]]:
        return {lsp.INITIALIZE: (self.on_initialize, None),
                lsp.WORKSPACE_DID_CHANGE_CONFIGURATION: (self.on_did_change_configuration,
                                                         None)}

    def on_initialize(self, params: lsp.InitializeParams) -> None:
        options = {**self.ctx.cfg_overrides, **unwrap(params.initialization_options)}
        root = self.ctx.workspace_root()
        try:
            settings = build_settings(options, root)
        except ConfigError as exc:
            self.startup_error = f"DiSE settings: {exc}"
            settings = fallback_settings(self.ctx.cfg_overrides, root)
        self.ctx.settings = settings

    def initialized(self) -> None:
        if self.startup_error:
            self.ctx.tell(lsp.MessageType.Error, self.startup_error)
        self.ctx.start_backend()

    def shutdown(self) -> None:
        self.ctx.shutdown_received = True

    async def on_did_change_configuration(self, params: lsp.DidChangeConfigurationParams) -> None:
        ctx = self.ctx
        options = params.settings
        if not options and supports(ctx.client_capabilities, "workspace", "configuration"):
            try:
                answer = await ctx.configuration(lsp.ConfigurationParams(
                    items=[lsp.ConfigurationItem(section=SERVER_NAME)]))
                options = answer[0] if answer else None
            except Exception as exc:
                ctx.log(lsp.MessageType.Warning, f"workspace/configuration failed: {exc}")
                return
        if not isinstance(options, dict):
            return
        merged = {**ctx.cfg_overrides, **unwrap(options)}
        try:
            settings = await ctx.in_io(build_settings, merged, ctx.workspace_root())
        except ConfigError as exc:
            ctx.tell(lsp.MessageType.Error, f"DiSE settings: {exc}")
            return
        ctx.use_settings(settings)
        ctx.log(lsp.MessageType.Info, "DiSE settings updated.")


def fallback_settings(overrides: dict[str, Any], root: str) -> ServerSettings:
    """The command line's settings, else the defaults (when the client's are bad)."""
    try:
        return build_settings(overrides, root)
    except ConfigError:
        return ServerSettings(config=Config(), lsp=LspSettings(), raw={})
