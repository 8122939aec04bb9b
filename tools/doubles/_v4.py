"""The V4 signing key of Alibaba Cloud's storage services (OSS "Signature Version 4 (recommended)", Tablestore's V4
request signature): HMAC-SHA256 chained from ``"aliyun_v4" + secret`` over the sign date (``YYYYMMDD``), the
region, the product (``oss``, ``ots``) and ``aliyun_v4_request``. Each service uses the key its own way (see its
double); both uses are checked against that service's SDK signer in ``tests/doubles/``."""

from __future__ import annotations

import hashlib
import hmac

SECRET_PREFIX = "aliyun_v4"  # noqa: S105 - a protocol constant, not a secret
TERMINATOR = "aliyun_v4_request"


def signing_key(secret: str, date: str, region: str, product: str) -> bytes:
    key = (SECRET_PREFIX + secret).encode("utf-8")
    for part in (date, region, product, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key
