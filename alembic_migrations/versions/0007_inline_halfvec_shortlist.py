"""A compact copy of every embedding for retrieval's shortlist: `transcript_chunk.embedding_half`,
the vector in half precision (`halfvec`, generated from `embedding`, so every insert path fills it
and it can never disagree), stored inline in the row (`STORAGE MAIN`), and the table's
`toast_tuple_target` raised so that a row moves only its full-precision vector out to TOAST and
keeps its text and tsvector inline.

Why: a 1536-dim float32 vector is 6 KiB, always TOASTed: an exact scan of a session's 1,000 chunks
read about 4,000 buffers (four TOAST chunks per vector, each through the TOAST index). Retrieval
now ranks the session's chunks by the inline half-precision copy (3 KiB, two rows per page, no
TOAST), keeps a shortlist, and re-ranks only the shortlist by the full-precision vector (see
`db.retrieval`). Any width from 1 to 16000 fits both types.

The upgrade rewrites `transcript_chunk` once (the generated column is computed for every row) and
holds an exclusive lock meanwhile: about 10 s per 100,000 chunks of 1536 dimensions.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The largest target PostgreSQL accepts (a heap page less its header): TOAST moves the biggest
# out-of-line-able value first (the float32 vector), then stops as soon as the row fits.
TOAST_TUPLE_TARGET = 8160


def upgrade() -> None:
    # One statement: the storage and the target are in the catalog before the table is rewritten,
    # so the rewrite already lays the rows out inline.
    op.execute(
        "ALTER TABLE transcript_chunk "
        "ADD COLUMN embedding_half halfvec GENERATED ALWAYS AS (embedding::halfvec) STORED, "
        "ALTER COLUMN embedding_half SET STORAGE MAIN, "
        f"SET (toast_tuple_target = {TOAST_TUPLE_TARGET})"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE transcript_chunk DROP COLUMN embedding_half, RESET (toast_tuple_target)"
    )
