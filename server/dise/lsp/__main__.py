"""``python -m dise.lsp``: the language server over stdio (same as ``dise serve``)."""

from dise.lsp.server import serve

if __name__ == "__main__":
    serve()
