"""Chat rate limit: a fixed window per session and the questions asked in it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "chat_session",
        sa.Column("chat_window_started_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "chat_session",
        sa.Column("chat_window_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("chat_session", "chat_window_count")
    op.drop_column("chat_session", "chat_window_started_at")
