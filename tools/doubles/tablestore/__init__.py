"""Tablestore double: the HTTP API of the ``tablestore`` SDK (6.4.8) over loopback, for tests and the local stack.

Tables, rows, conditional writes, filters, paging, global and local secondary indexes (with a configurable lag for
the global ones), the service's errors, signature checks, fault injection and a count of the rows each call reads
(see ``server`` for the order of effects, ``engine`` for the semantics and ``accounting`` for the counters).
From tests::

    with TablestoreDouble(access_key_id="AK", access_key_secret="SK", instance="kycinst") as ots:
        client = ots.client()                   # tablestore.OTSClient(ots.endpoint, "AK", "SK", "kycinst")
        ...                                     # create_table, put_row, get_range, ... over HTTP
        ots.rows("GetRange")                    # {"rowsScanned": 100, "rowsReturned": 3, ...}
        ots.stats()                             # {"requests": ..., "faults": ..., "rows": ..., "indexes": ...}
        ots.reset_stats()                       # zero the counters, keep the data
        ots.set_index_lag(0.2)                  # global indexes lag 200 ms; set_index_lag(manual=True) holds them
        ots.flush_indexes()                     # apply every pending index change now
        ots.set_faults({"operations": {"PutRow": {"sequence": ["OTSServerBusy", "ok"]}}})
        ots.load_rows("t", [([("pk", "a")], {"col": 1})])   # bulk load, uncounted

CLI: ``python -m tools.doubles.tablestore --port 0 --instance kycinst`` (keys from the environment).
"""

from __future__ import annotations

from tools.doubles.tablestore.indexes import IndexLag
from tools.doubles.tablestore.server import TablestoreDouble

__all__ = ["IndexLag", "TablestoreDouble"]
