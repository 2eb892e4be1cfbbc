"""`dise`: the command line and the `DiSE>` shell over the same engine as the language server.

``dise.cli.main`` is the console script (``dise = "dise.cli:main"``); ``python -m dise.cli``
runs it too. Layout: ``main`` parses and dispatches; one module per command (``generate``,
``status``, ``listing``, ``models``, ``search``, ``optimize``, ``shell``, ``serve``,
``doctor``); ``output`` renders artifacts; ``common`` holds the engine factory and the
Ctrl-C-aware runner the commands share.
"""

from __future__ import annotations

from dise.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
