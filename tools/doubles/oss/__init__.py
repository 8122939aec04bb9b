"""OSS double: PutObject/GetObject/HeadObject/GetObjectMeta/DeleteObject/ListObjectsV2 over HTTP, V4 signatures
verified, SSE-KMS required on writes (see ``server``). From tests::

    with OssDouble(access_key_id="AK", access_key_secret="SK", bucket="kyc-bucket", region="cn-hangzhou") as oss:
        client_endpoint = oss.endpoint          # http://127.0.0.1:<port> (the SDK then uses path style)
        ...
        oss.keys()                              # keys of the default bucket
        oss.object("results/x.json")            # StoredObject: data, content_type, encryption, ...
        oss.set_faults({"operations": {"PutObject": {"sequence": ["ServiceUnavailable"]}}})
        oss.stats()                             # requests per operation, faults, objects and bytes per bucket

CLI: ``python -m tools.doubles.oss --port 0 --bucket kyc-bucket --region cn-hangzhou`` (keys from the environment).
"""

from __future__ import annotations

from tools.doubles.oss.server import OssDouble
from tools.doubles.oss.store import StoredObject

__all__ = ["OssDouble", "StoredObject"]
