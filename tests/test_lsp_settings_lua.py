"""Settings as Neovim sends them: Lua encodes an empty table as a JSON array."""

from dise.lsp.settings import build_settings, unwrap


def test_an_empty_lua_section_means_no_settings():
    assert unwrap({"dise": []}) == {}
    assert unwrap([]) == {}
    assert build_settings({"dise": []}, None).raw == {}


def test_a_filled_section_is_still_read():
    assert unwrap({"dise": {"backend": "llamacpp"}}) == {"backend": "llamacpp"}
    assert build_settings({"dise": {"backend": "llamacpp"}}, None).config.backend == "llamacpp"
