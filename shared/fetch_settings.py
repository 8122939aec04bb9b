"""The result fetcher's settings, apart from the fetcher: the sweeper checks them when it starts and builds its
fetcher only when a pass has work for it (:mod:`shared.sweeper`), so reading them must not load the fetching code."""

from __future__ import annotations

from shared.config import Env, env_bool, env_schedule, environ
from shared.values import valueclass

DEFAULT_RECHECK_SCHEDULE = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)


@valueclass
class FetchSettings:
    """What the result fetcher (and the sweeper) need to fetch and keep results."""

    recheck_schedule: tuple[float, ...]
    delete_vendor_copy: bool

    @classmethod
    def from_env(cls, env: Env | None = None) -> FetchSettings:
        env = environ() if env is None else env
        return cls(
            recheck_schedule=env_schedule(env, "KYC_RECHECK_SCHEDULE", DEFAULT_RECHECK_SCHEDULE),
            delete_vendor_copy=env_bool(env, "KYC_DELETE_VENDOR_COPY", False),
        )
