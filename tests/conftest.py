from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = ROOT.parent / "shared" / "reference"  # the vendor's API metadata, beside the project (never copied)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def vendor_api_metadata() -> Any:
    """The vendor's API metadata (``cloudauth-intl-2022-08-09.api.json``), an oracle kept beside the project and never
    copied into it. A checkout without it (a fresh clone elsewhere, CI) skips the tests that need it, saying why."""
    import orjson
    import pytest

    path = REFERENCE_DIR / "cloudauth-intl-2022-08-09.api.json"
    if not path.is_file():
        pytest.skip(f"the vendor's API metadata is not beside this checkout ({path}); it is not part of the project")
    return orjson.loads(path.read_bytes())
