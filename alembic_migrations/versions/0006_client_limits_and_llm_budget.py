"""Abuse limits shared by every instance: fixed windows (a minute, or an hour for stored
passages) per client address (its SHA-256, never the address) and the model tokens spent per UTC
day.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client_rate_window",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("client_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "client_hash", name=op.f("pk_client_rate_window")),
    )
    op.create_index(op.f("ix_client_rate_window_started_at"), "client_rate_window", ["started_at"])
    op.create_table(
        "llm_usage",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_llm_usage")),
    )


def downgrade() -> None:
    op.drop_table("llm_usage")
    op.drop_index(op.f("ix_client_rate_window_started_at"), table_name="client_rate_window")
    op.drop_table("client_rate_window")
