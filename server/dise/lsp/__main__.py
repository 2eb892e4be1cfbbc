"""``python -m dise.lsp``: the language server over stdio (same as ``dise serve``)."""

import sys

from dise.lsp.setup import serve

if __name__ == "__main__":
    sys.exit(serve())
