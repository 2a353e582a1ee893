"""Every table module, imported so :data:`metadata` is complete (migrations, tests)."""

from gateway.budget import models as budget
from gateway.consents import log_models as consent_log
from gateway.db import metadata
from gateway.members import models as members

__all__ = ["budget", "consent_log", "members", "metadata"]
