"""The official ``tablestore`` SDK's own codec modules, which the double reuses on the server side.

Requests and responses are encoded and decoded with the SDK's protobuf classes (``table_store_pb2``,
``table_store_filter_pb2``) and its PlainBuffer streams, CRC-8 and value readers/writers: the double shares the
wire format with the client by construction, and never re-implements protobuf. The package is imported through
the adapter's ``import_tablestore`` (which keeps the async client's and time-series codecs' dependencies out of
the process when nothing imported them yet); the modules below are the SDK's files either way.
"""

from __future__ import annotations

from typing import Any

from shared.storage.tablestore_sdk import import_tablestore

tablestore: Any = import_tablestore()

# The imports below need the package imported above (the SDK's modules import ``tablestore`` themselves).
from tablestore import const_module as consts  # noqa: E402 - the PlainBuffer tags and value types
from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder  # noqa: E402
from tablestore.plainbuffer.plain_buffer_coded_stream import (  # noqa: E402
    PlainBufferCodedInputStream,
    PlainBufferCodedOutputStream,
)
from tablestore.plainbuffer.plain_buffer_crc8 import PlainBufferCrc8  # noqa: E402
from tablestore.plainbuffer.plain_buffer_stream import (  # noqa: E402
    PlainBufferInputStream,
    PlainBufferOutputStream,
)
from tablestore.protobuf import table_store_filter_pb2 as filter_pb2  # noqa: E402
from tablestore.protobuf import table_store_pb2 as pb2  # noqa: E402

__all__ = [
    "PlainBufferBuilder",
    "PlainBufferCodedInputStream",
    "PlainBufferCodedOutputStream",
    "PlainBufferCrc8",
    "PlainBufferInputStream",
    "PlainBufferOutputStream",
    "consts",
    "filter_pb2",
    "pb2",
    "tablestore",
]
