"""What ``./scripts/package`` uses to ship, per function, only the dependencies its handler imports (dev-only).

* ``exercise.py`` — each function's scenario (both backends, success and error paths) against loopback services:
  the vendor sandbox, the Tablestore/OSS/MNS doubles of ``tools.doubles`` and ``receiver.py`` (a webhook subscriber);
* ``child.py`` — the packaged handler in the target Python, nothing but its folder on ``sys.path``, imports traced;
* ``diet.py`` — which distributions (and files) a function ships, decided from the traces.

The build itself (install, assemble, compile, verify, report) is ``scripts/_package.py``; docs/deploy.md explains it.
"""
