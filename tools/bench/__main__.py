from __future__ import annotations

import sys

from tools.bench.run import main

sys.exit(main())
