"""Uploads for any video and citation moments: video ids of up to 64 characters (an upload's own
id), an upload's link (`transcript.link_url`) and whether its transcript has timings
(`transcript.timed`), and where each caption starts inside each chunk (`transcript_chunk.moments`,
`[[character offset, seconds], ...]`; existing chunks get `[]`, so their citations point at the
chunk's start as before).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VIDEO_ID_COLUMNS = (("video", "id"), ("transcript", "video_id"), ("session_video", "video_id"))


def upgrade() -> None:
    for table, column in _VIDEO_ID_COLUMNS:
        op.alter_column(
            table, column, type_=sa.String(length=64), existing_type=sa.String(length=11)
        )
    op.add_column("transcript", sa.Column("link_url", sa.Text(), nullable=True))
    op.add_column(
        "transcript",
        sa.Column("timed", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    op.add_column(
        "transcript_chunk",
        sa.Column(
            "moments",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("transcript_chunk", "moments")
    op.drop_column("transcript", "timed")
    op.drop_column("transcript", "link_url")
    # Ids longer than YouTube's cannot go back: the videos that have them (their transcripts and
    # session links go with them by cascade) are deleted first.
    op.execute("DELETE FROM video WHERE length(id) > 11")
    for table, column in reversed(_VIDEO_ID_COLUMNS):
        op.alter_column(
            table, column, type_=sa.String(length=11), existing_type=sa.String(length=64)
        )
