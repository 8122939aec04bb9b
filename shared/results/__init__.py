"""CheckResult parsing and identity normalisation (stdlib + orjson for large documents only; images decoded lazily).

```python
result = parse_check_result(body_or_bytes, doc_type="01000000")
result.status, result.identity, result.images.id_front.data
result.to_record()        # JSON-ready: all the vendor sent but the images saved as objects
mask_identity(result.identity)
```
"""

from __future__ import annotations

from shared.results.dates import parse_date, split_period
from shared.results.errors import ImageDecodeError, ResultParseError
from shared.results.identity import Identity, build_identity, guess_doc_type, normalize_sex
from shared.results.images import Image, Images, sniff_content_type
from shared.results.masking import mask_birth_date, mask_identity, mask_name, mask_value
from shared.results.model import (
    CheckResultResponse,
    ExtValue,
    FaceInfo,
    SpoofInfo,
    parse_check_result,
    sub_code_description,
)

__all__ = [
    "CheckResultResponse",
    "ExtValue",
    "FaceInfo",
    "Identity",
    "Image",
    "ImageDecodeError",
    "Images",
    "ResultParseError",
    "SpoofInfo",
    "build_identity",
    "guess_doc_type",
    "mask_birth_date",
    "mask_identity",
    "mask_name",
    "mask_value",
    "normalize_sex",
    "parse_check_result",
    "parse_date",
    "sniff_content_type",
    "split_period",
    "sub_code_description",
]
