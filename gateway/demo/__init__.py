"""The demo alliance `make run` seeds and starts: three platforms and one brand on
localhost, a synthetic population for the sandbox and training demos, and the launcher
of the members' own apps (``examples/``). Development only.

The package: :mod:`gateway.demo.members`, :mod:`gateway.demo.population`,
:mod:`gateway.demo.apps`.

- :func:`seed` registers the members (platforms with ``private_key_jwt`` keys generated
  here, the brand with ``client_secret_basic``) and writes their credentials under
  ``var/demo/<slug>.json``, and the alliance's public directory ``var/demo/alliance.json``
  for the apps; it issues the first alliance salt and gives the brand a sandbox budget.
  Idempotent: a member whose URLs changed (another ``DEMO_BASE_PORT``) is updated, one
  whose credentials file is gone gets new credentials.
- :func:`seed_population` records, with the gateway's own services, a reproducible crowd
  of synthetic persons (what :data:`POPULATION` says), so the brand's sandbox has groups
  above the suppression threshold and ``accord train --demo`` has consenting accounts.
- :class:`DemoApps` runs each member's app as its own process
  (``python -m examples.platform|brand FILE``): the gateway never imports ``examples``.
"""

from gateway.demo.apps import DemoApps
from gateway.demo.members import (
    BASE_PORT_VARIABLE,
    DEMO_ALLIANCE,
    DemoError,
    DemoMember,
    alliance,
    demo_dir,
    seed,
)
from gateway.demo.population import POPULATION, crowd, seed_population

__all__ = [
    "BASE_PORT_VARIABLE",
    "DEMO_ALLIANCE",
    "POPULATION",
    "DemoApps",
    "DemoError",
    "DemoMember",
    "alliance",
    "crowd",
    "demo_dir",
    "seed",
    "seed_population",
]
