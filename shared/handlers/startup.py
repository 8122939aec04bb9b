"""An instance's start with Python's cyclic garbage collector paused, and what it built frozen afterwards.

Why (measured, docs/performance.md, "Phase 9"): loading a function's modules and building its app
allocates tens of thousands of objects that live as long as the instance (modules, classes, functions, settings).
With the collector on, that allocation count sets off a dozen collections during a cold start, each walking the
young objects (and some the older ones) again and finding nothing to free: ~1.5 ms of every start. Paused, the
start does none of that; frozen afterwards (``gc.freeze``: every object tracked so far moves to a permanent
generation that no collection walks), neither does the first request, which would otherwise pay one collection
over everything the start made (~1 ms), nor any later full collection.

Order of effects of :class:`collector_paused`: on entry the collector is disabled, if it was enabled (a caller that
had disabled it keeps it disabled, and then nothing here enables it or freezes anything). On a normal exit what
exists is frozen, the first time in a process only, and the collector is enabled again; on an exception it is only
enabled again (an instance whose start failed serves nothing). The first time only: FC starts one instance per
process, so there it is every start; a process that starts many (the test suite, the local stack loading each
function) keeps the objects of its later starts collectable. Cyclic garbage the start made is kept with what was
frozen; a start makes a few hundred objects of it, at most. One instance per ``with`` (it remembers whether it
paused the collector): ``with collector_paused():``, as a function is used.
"""

from __future__ import annotations

import gc

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from types import TracebackType

_frozen = False  # once per process (module docstring)


class collector_paused:  # a function to its callers: ``with collector_paused():``
    """The cyclic garbage collector paused for the block (see the module docstring)."""

    __slots__ = ("_paused",)

    def __init__(self) -> None:
        self._paused = False

    def __enter__(self) -> None:
        if gc.isenabled():
            self._paused = True  # first: an exception between the two lines still finds the collector enabled again
            gc.disable()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        global _frozen  # noqa: PLW0603 - once per process is the point
        if not self._paused:
            return
        self._paused = False
        try:
            if kind is None and not _frozen:
                gc.freeze()
                _frozen = True
        finally:
            gc.enable()
