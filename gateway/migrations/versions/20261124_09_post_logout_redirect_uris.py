"""Post-logout redirect URIs of a member (OIDC RP-Initiated Logout 1.0 §3.1).

Revision ID: 20261124_09
Revises: 20261124_08
Create Date: 2026-11-24 23:20:27.439715
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_09"
down_revision: str | None = "20261124_08"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("post_logout_redirect_uris")
