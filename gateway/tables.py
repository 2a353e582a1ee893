"""Every table module, imported so :data:`metadata` is complete (migrations, tests)."""

from gateway import changes
from gateway.budget import models as budget
from gateway.consents import log_models as consent_log
from gateway.consents import models as consents
from gateway.db import metadata
from gateway.events import models as events
from gateway.identity import models as identity
from gateway.members import models as members
from gateway.oauth import models as oauth
from gateway.operator import asks as operator
from gateway.rights import models as rights
from gateway.sandbox import models as sandbox
from gateway.training import models as training
from gateway.views import models as views

__all__ = [
    "budget",
    "changes",
    "consent_log",
    "consents",
    "events",
    "identity",
    "members",
    "metadata",
    "oauth",
    "operator",
    "rights",
    "sandbox",
    "training",
    "views",
]
