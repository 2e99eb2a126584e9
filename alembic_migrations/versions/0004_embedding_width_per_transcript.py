"""Embeddings of any width: `transcript_chunk.embedding` becomes `vector` (no fixed width) and each
transcript records the width of its vectors in `embedding_dimensions` (existing rows: 1536, the
only width stored before). Retrieval compares a question only with chunks of its model and
width, so one table holds 256-wide offline vectors, 768-wide local ones and 1536-wide OpenAI ones.
No index needs a width: retrieval is an exact scan of one session's chunks.

The downgrade puts back `vector(1536)`, which only 1536-wide vectors fit: it refuses (and changes
nothing) while transcripts of another width exist. Delete them first to downgrade, e.g.
`DELETE FROM transcript WHERE embedding_dimensions <> 1536` (their chunks and session links go with
them).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREVIOUS_DIMENSIONS = 1536
CLEAR_OTHER_WIDTHS = "DELETE FROM transcript WHERE embedding_dimensions <> 1536"


def upgrade() -> None:
    op.add_column(
        "transcript",
        sa.Column(
            "embedding_dimensions",
            sa.Integer(),
            server_default=sa.text(str(PREVIOUS_DIMENSIONS)),
            nullable=False,
        ),
    )
    # The default only filled the existing rows: from now on ingestion states the width.
    op.alter_column("transcript", "embedding_dimensions", server_default=None)
    op.create_check_constraint(
        op.f("ck_transcript_embedding_dimensions"),
        "transcript",
        "embedding_dimensions BETWEEN 1 AND 16000",
    )
    op.alter_column(
        "transcript_chunk",
        "embedding",
        type_=VECTOR(),
        existing_type=VECTOR(dim=PREVIOUS_DIMENSIONS),
        existing_nullable=False,
    )


def downgrade() -> None:
    other = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM transcript WHERE embedding_dimensions <> :dimensions"),
        {"dimensions": PREVIOUS_DIMENSIONS},
    )
    if other:
        raise RuntimeError(
            f"{other} transcript(s) have vectors of another width than {PREVIOUS_DIMENSIONS}, "
            "which the previous schema cannot hold; delete them first: " + CLEAR_OTHER_WIDTHS
        )
    op.alter_column(
        "transcript_chunk",
        "embedding",
        type_=VECTOR(dim=PREVIOUS_DIMENSIONS),
        existing_type=VECTOR(),
        existing_nullable=False,
    )
    op.drop_constraint(op.f("ck_transcript_embedding_dimensions"), "transcript", type_="check")
    op.drop_column("transcript", "embedding_dimensions")
