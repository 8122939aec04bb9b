"""What ``./scripts/package`` uses to ship, per function, only the dependencies its handler imports (dev-only).

* ``exercise.py`` — each function's scenario (both backends, success and error paths) against loopback services;
* ``child.py`` — the packaged handler in the target Python, nothing but its folder on ``sys.path``, imports traced;
* ``loopback.py`` — Tablestore, OSS and MNS stand-ins the real SDKs talk to over HTTP, and a webhook receiver;
* ``diet.py`` — which distributions (and files) a function ships, decided from the traces.

The build itself (install, assemble, compile, verify, report) is ``scripts/_package.py``; docs/deploy.md explains it.
"""
