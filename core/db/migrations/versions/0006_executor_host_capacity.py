"""executor_hosts.capacity and .backend: what each worker host announces, for operators (GET /admin/executors)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 20:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executor_hosts") as batch:
        batch.add_column(sa.Column("capacity", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("backend", sa.String(16), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("executor_hosts") as batch:
        batch.drop_column("backend")
        batch.drop_column("capacity")
