"""The layer every function imports: signing, the cloudauth-intl client, result parsing, adapters, logging.

Submodules are imported explicitly (``from shared.cloudauth import CloudAuthClient``); this package imports
nothing on its own so that each handler pays only for what its path needs.
"""
