"""One app class per FC function: the access path (events in, responses out) over a service.

``functions/<name>/index.py`` only wires these to FC. Each app's ``from_env`` builds its service with
:mod:`shared.wiring`; the services themselves live outside this package (nothing in ``shared`` imports a handler).
"""
