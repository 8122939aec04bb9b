from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = ROOT.parent / "shared" / "reference"  # the vendor's API metadata, beside the project (never copied)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
