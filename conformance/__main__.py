"""``python -m conformance`` is the ``conformance`` command."""

import sys

if sys.argv[1:2] == ["load"] and "--" not in sys.argv:
    # the load generator straight away: none of the suite's other imports in its start-up
    # (its CPU counts in the CPU per transaction load_vs_sipp compares with SIPp's)
    from .load.cli import main as load_main

    sys.exit(load_main(sys.argv[2:]))

from .cli import main

sys.exit(main())
