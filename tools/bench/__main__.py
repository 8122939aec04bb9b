from __future__ import annotations

import sys

if sys.argv[1:2] == ["store-scale"]:  # ./scripts/bench store-scale [--json] [--smoke] [--sizes ...]
    from tools.bench.store_scale import main as store_scale

    sys.exit(store_scale(sys.argv[2:]))

from tools.bench.run import main

sys.exit(main())
