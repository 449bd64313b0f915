"""``python -m conformance.sut``: the same as ``conformance sut``."""

import sys

from .cli import main

sys.exit(main())
