"""Wire-level test doubles of the Alibaba Cloud services the ``aliyun`` backend talks to (local tools, never deployed).

Each double is a threaded HTTP server on loopback that speaks the service's own wire protocol closely enough for
the official SDK (and the project's own clients) to run against it unchanged: it verifies every request's
signature with its own implementation (checked in tests against the SDK's signer), keeps its state in memory,
answers with the service's status codes and error bodies, and injects faults (errors, slow answers, dropped
connections) from a plan posted to its control API under ``/_double/``.

``tools.faultplan`` (the fault plan) and ``_server`` (the HTTP server and control API) are shared by every double; each
service lives in its own module (``oss``, ``mns``, ...) with a Python API for tests and a CLI
(``python -m tools.doubles.<service> --port N``).

They are not emulators: they implement the operations the project uses, and say (in their docstrings) what they
leave out. Nothing here is packaged into the deployed functions.
"""
