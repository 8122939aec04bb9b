"""``python -m tools.loadtest``: see :mod:`loadtest.run`."""

from __future__ import annotations

import os
import sys

# The functions log every step as JSON lines; with hundreds of flows that drowns the table. Set before the
# stack's modules are imported: the log level is read once. ``--verbose`` brings the logs back.
os.environ["KYC_LOG_LEVEL"] = "DEBUG" if "--verbose" in sys.argv else os.environ.get("KYC_LOAD_LOG_LEVEL", "CRITICAL")

from tools.loadtest.run import main

if __name__ == "__main__":
    sys.exit(main())
