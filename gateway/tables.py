"""Every table module, imported so :data:`metadata` is complete (migrations, tests)."""

from gateway.db import metadata
from gateway.members import models as members

__all__ = ["members", "metadata"]
