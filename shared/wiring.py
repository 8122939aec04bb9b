"""The one place that builds the services from the environment: the functions, the CLI and the local stack use it.

Each ``build_*`` reads exactly the settings its service needs (each settings class registers its own secrets with
the log scrubber as it reads them), in a fixed order so that the first bad variable is the one reported, and opens
the storage backends it uses: opening one checks its settings and builds the adapter, but imports no vendor SDK and
builds no SDK client (the aliyun adapters do both at their first call that needs them, once; see
:mod:`shared.storage.settings`). Every builder also checks the deployment's vendor target (``VendorTarget``: the
product offered in the region, the endpoint): through the client's settings where it builds one, directly in
``build_notifier``, which never calls the vendor — so an impossible product/region pair fails every function's
``initialize``, whichever function's log the operator reads first. Pass ``client``/``stores`` to reuse ones already
open (the CLI does; tests inject fakes). Services are imported inside each builder: a function's cold start loads
only the service it runs.

==========================  ==============================================================================
builder                     used by
==========================  ==============================================================================
``build_verifications``     initializer (``InitializerApp.from_env``)
``build_fetcher``           result_fetcher, ``kyc refetch``
``build_notifier``          notifier
``build_sweeper``           sweeper, ``kyc sweep``
``build_cloudauth_client``  every builder that calls the vendor, ``kyc`` commands
==========================  ==============================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.config import Env, environ
from shared.log import level_from_env
from shared.storage import StorageSettings, Stores, open_stores

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from shared.cloudauth import CloudAuthClient
    from shared.fetch_settings import FetchSettings
    from shared.fetcher import ResultFetcher
    from shared.notifications import Notifier
    from shared.sweeper import Sweeper
    from shared.verifications import Verifications


def _environment(env: Env | None) -> Env:
    """``env`` (default: the process's), after the settings every service shares are checked (``KYC_LOG_LEVEL``)."""
    env = environ() if env is None else env
    level_from_env(env)  # raises ConfigError for a level that is not one
    return env


def build_cloudauth_client(env: Env | None = None) -> CloudAuthClient:
    from shared.cloudauth import CloudAuthClient, CloudAuthSettings  # noqa: PLC0415

    return CloudAuthClient(CloudAuthSettings.from_env(environ() if env is None else env))


def build_verifications(
    env: Env | None = None, *, client: CloudAuthClient | None = None, stores: Stores | None = None
) -> Verifications:
    """Frontend settings, then storage, then the vendor client."""
    from shared.verifications import FrontendSettings, Verifications  # noqa: PLC0415

    env = _environment(env)
    settings = FrontendSettings.from_env(env)
    stores = stores or open_stores(StorageSettings.from_env(env))
    client = client or build_cloudauth_client(env)
    return Verifications(settings=settings, client=client, store=stores.transactions)


def build_fetcher(
    env: Env | None = None, *, client: CloudAuthClient | None = None, stores: Stores | None = None
) -> ResultFetcher:
    """Storage settings, then the vendor client, then ``KYC_RECHECK_SCHEDULE``/``KYC_DELETE_VENDOR_COPY``."""
    from shared.fetch_settings import FetchSettings  # noqa: PLC0415

    env = _environment(env)
    stores = stores or open_stores(StorageSettings.from_env(env))
    client = client or build_cloudauth_client(env)
    return _result_fetcher(client, stores, FetchSettings.from_env(env))


def _result_fetcher(client: CloudAuthClient, stores: Stores, settings: FetchSettings) -> ResultFetcher:
    from shared.fetcher import ResultFetcher  # noqa: PLC0415

    return ResultFetcher(
        client=client,
        store=stores.transactions,
        objects=stores.objects,
        recheck_queue=stores.queue("recheck"),
        notify_queue=stores.queue("notify"),
        settings=settings,
    )


def build_notifier(env: Env | None = None, *, stores: Stores | None = None) -> Notifier:
    """Storage settings, then ``KYC_WEBHOOKS`` and the delivery settings, then the vendor target (see the module
    docstring). The queues open at their first send (a retry or a dead letter, not most messages): their settings
    are checked here, with the rest."""
    from shared.cloudauth.settings import VendorTarget  # noqa: PLC0415
    from shared.notifications import Notifier, WebhookSettings  # noqa: PLC0415

    env = _environment(env)
    storage = StorageSettings.from_env(env) if stores is None else None
    webhooks = WebhookSettings.from_env(env)
    VendorTarget.from_env(env)
    stores = stores or open_stores(storage)
    return Notifier(
        store=stores.transactions,
        objects=stores.objects,
        notify_queue=stores.queue_on_first_send("notify"),  # retries only: most starts never send
        deadletter_queue=stores.queue_on_first_send("deadletter"),
        settings=webhooks,
    )


def build_sweeper(
    env: Env | None = None,
    *,
    client: CloudAuthClient | None = None,
    stores: Stores | None = None,
    clock: Callable[[], float] = time.time,
) -> Sweeper:
    """The fetcher's settings (see :func:`build_fetcher`), then ``KYC_SWEEP_*``/``KYC_ABANDON_AFTER``/
    ``KYC_RETENTION_DAYS``. Every setting is checked here; the fetcher itself (the vendor client, the result
    parsers) is built by the first pass that has work for it (:class:`shared.sweeper.DeferredFetcher`)."""
    from shared.cloudauth.settings import CloudAuthSettings  # noqa: PLC0415
    from shared.fetch_settings import FetchSettings  # noqa: PLC0415
    from shared.sweeper import DeferredFetcher, Sweeper, SweepSettings  # noqa: PLC0415

    env = _environment(env)
    stores = stores or open_stores(StorageSettings.from_env(env))
    if client is None:
        CloudAuthSettings.from_env(env)  # checked now; the client is made of them at the first use
    fetch_settings = FetchSettings.from_env(env)

    def build() -> ResultFetcher:
        return _result_fetcher(client or build_cloudauth_client(env), stores, fetch_settings)

    fetcher = DeferredFetcher(build, deletes_vendor_copy=fetch_settings.delete_vendor_copy)
    return Sweeper(
        store=stores.transactions,
        objects=stores.objects,
        fetcher=fetcher,
        settings=SweepSettings.from_env(env),
        clock=clock,
    )
