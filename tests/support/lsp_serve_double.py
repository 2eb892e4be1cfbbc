"""TEST-ONLY: ``dise serve`` over an engine double, for the editor and protocol tests.

    python -m support.lsp_serve_double support.lsp_double:DoubleEngine   # tests/ on PYTHONPATH

Imports the named class (``module:Class``, built as ``Class(cfg, store)`` like the real
``Engine``) and runs ``dise.lsp.setup.serve`` with it as the engine factory: the same server,
handlers and stdio channel as ``dise serve``, only the engine is the double. The server itself
has no switch for this (it used to read ``DISE_TEST_ENGINE``).
"""

from __future__ import annotations

import importlib
import sys

from dise.lsp.setup import serve


def engine_factory(spec: str):
    """The class named by ``module:Class``."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "Engine")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or ":" not in argv[0]:
        print("usage: python -m support.lsp_serve_double MODULE:CLASS", file=sys.stderr)
        return 2
    return serve(engine_factory=engine_factory(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
