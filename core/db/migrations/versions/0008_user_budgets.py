"""users.monthly_token_budget and .monthly_cost_budget: per-user limits set by admins (NULL = the default)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("monthly_token_budget", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("monthly_cost_budget", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("monthly_cost_budget")
        batch.drop_column("monthly_token_budget")
