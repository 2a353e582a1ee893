"""Every table module, imported so :data:`metadata` is complete (migrations, tests)."""

from gateway.budget import models as budget
from gateway.db import metadata
from gateway.members import models as members

__all__ = ["budget", "members", "metadata"]
