"""Settings from the editor (``dise.lsp.settings``) alone, including as Neovim sends them (Lua
encodes an empty table as a JSON array)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dise.config import ConfigError
from dise.lsp.settings import WORKSPACE_STORE_DIR, build_settings, unwrap


def test_settings_from_the_editor(tmp_path: Path):
    settings = build_settings({"dise": {"backend": "llamacpp", "storeScope": "workspace",
                                        "lsp": {"generation_workers": 2}}}, str(tmp_path))
    assert settings.config.backend == "llamacpp"
    assert settings.config.store_path.parent == tmp_path / WORKSPACE_STORE_DIR
    assert settings.lsp.generation_workers == 2
    with pytest.raises(ConfigError, match="lsp.workers"):
        build_settings({"lsp": {"workers": 2}}, None)
    with pytest.raises(ConfigError, match="storeScope"):
        build_settings({"storeScope": "galaxy"}, None)
    with pytest.raises(ConfigError, match="workspace folder"):
        build_settings({"storeScope": "workspace"}, None)


def test_an_empty_lua_section_means_no_settings():
    assert unwrap({"dise": []}) == {}
    assert unwrap([]) == {}
    assert build_settings({"dise": []}, None).raw == {}


def test_a_filled_section_is_still_read():
    assert unwrap({"dise": {"backend": "llamacpp"}}) == {"backend": "llamacpp"}
    assert build_settings({"dise": {"backend": "llamacpp"}}, None).config.backend == "llamacpp"
