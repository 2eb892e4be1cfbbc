"""``python -s -B -P -m dise_harness JOB``: run one sandbox job, then leave without the
interpreter's shutdown (threads or atexit handlers the candidate left must not hang us)."""

import os
import sys

from .run import main

if __name__ == "__main__":
    _real_exit = os._exit  # refuse_native_spawning replaces os._exit for the candidate
    _real_exit(main(sys.argv))
