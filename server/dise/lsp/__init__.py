"""The language server face of DiSE (``dise serve``); see ``dise.lsp.server``.

Importing this package loads nothing heavy: the engine is imported in a worker thread after
``initialized``, so the editor gets its ``initialize`` answer at once.
"""
