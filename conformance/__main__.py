"""``python -m conformance`` is the ``conformance`` command."""

import sys

if sys.argv[1:2] == ["load"] and "--" not in sys.argv:
    # the load generator straight away: none of the suite's other imports in its start-up
    # (its CPU counts in the CPU per transaction load_vs_sipp compares with SIPp's)
    import gc
    import os

    # no cyclic collections during the imports and the set-up either (the run itself disables
    # them, generator.py): nothing made before the first request forms cycles worth collecting
    gc.disable()
    from .load.cli import main as load_main

    code = load_main(sys.argv[2:])
    # out without the interpreter's teardown: freeing a run's hundreds of thousands of flows
    # and transactions one by one is CPU spent after the work (its files are written and closed)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

from .cli import main

sys.exit(main())
