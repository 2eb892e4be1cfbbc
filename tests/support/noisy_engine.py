"""TEST-ONLY engine that behaves like native code sharing the server's stdout.

While "loading its model" it does what llama.cpp does with ``verbose=False``: points fds 1
and 2 at /dev/null for a while, then restores them; afterwards it prints to stdout, as a
careless library would. The LSP channel must survive both (``dise.lsp.server.private_stdio``).

Environment of the server process: ``DISE_NOISY_MARKER`` (a file created once fds 1 and 2
point at /dev/null) and ``DISE_NOISY_HOLD_S`` (how long they stay there, default 3).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from support.lsp_double import DoubleEngine


class NoisyEngine(DoubleEngine):
    def generate(self, request, *, progress=None, cancel=None):
        hold = float(os.environ.get("DISE_NOISY_HOLD_S", "3"))
        saved = [os.dup(1), os.dup(2)]
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            os.dup2(null, 2)
            Path(os.environ["DISE_NOISY_MARKER"]).write_text("fds 1 and 2 are /dev/null")
            time.sleep(hold)
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in (*saved, null):
                os.close(fd)
        print("stray output from a library", flush=True)
        os.write(1, b"Content-Length: 5\r\n\r\nnoise")
        return super().generate(request, progress=progress, cancel=cancel)
