"""``python -m dise.cli …``: the same as the ``dise`` console script."""

import sys

from dise.cli.main import main

sys.exit(main())
