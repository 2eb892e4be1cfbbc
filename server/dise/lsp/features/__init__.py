"""The language server's features, one module each; see ``dise.lsp.feature`` and
``dise.lsp.setup.DEFAULT_FEATURES``."""
