from __future__ import annotations

import sys

if sys.argv[1:2] == ["store-scale"]:  # ./scripts/bench store-scale [--json] [--smoke] [--sizes ...]
    from tools.bench.store_scale import main as store_scale

    sys.exit(store_scale(sys.argv[2:]))

if sys.argv[1:2] == ["side-by-side"]:  # ./scripts/bench side-by-side [--json] [--smoke]
    from tools.bench.side_by_side import main as side_by_side

    sys.exit(side_by_side(sys.argv[2:]))

from tools.bench.run import main

sys.exit(main())
