"""Initial schema: the vector extension and every table of the video RAG service.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Azure Database for PostgreSQL: allow-list `vector` in the server's azure.extensions first.
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "chat_session",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_chat_session_token_hash")),
    )
    op.create_index(
        op.f("ix_chat_session_expires_at"), "chat_session", ["expires_at"], unique=False
    )
    op.create_table(
        "video",
        sa.Column("id", sa.String(length=11), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video")),
    )
    op.create_table(
        "chat_message",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("session_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column(
            "sources",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('user', 'assistant')", name=op.f("ck_chat_message_role")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_session.id"],
            name=op.f("fk_chat_message_session_id_chat_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_message")),
    )
    op.create_index(
        "ix_chat_message_session_id_seq", "chat_message", ["session_id", "seq"], unique=False
    )
    op.create_table(
        "transcript",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("video_id", sa.String(length=11), nullable=False),
        sa.Column("owner_session_id", sa.UUID(), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("is_generated", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("embedding_model", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_used_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(source = 'upload') = (owner_session_id IS NOT NULL)",
            name=op.f("ck_transcript_upload_has_owner"),
        ),
        sa.CheckConstraint("source IN ('youtube', 'upload')", name=op.f("ck_transcript_source")),
        sa.ForeignKeyConstraint(
            ["owner_session_id"],
            ["chat_session.id"],
            name=op.f("fk_transcript_owner_session_id_chat_session"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["video.id"],
            name=op.f("fk_transcript_video_id_video"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript")),
        sa.UniqueConstraint("id", "video_id", name=op.f("uq_transcript_id_video_id")),
    )
    op.create_index(
        op.f("ix_transcript_last_used_at"), "transcript", ["last_used_at"], unique=False
    )
    op.create_index(
        op.f("ix_transcript_owner_session_id"), "transcript", ["owner_session_id"], unique=False
    )
    op.create_index(
        "uq_transcript_shared",
        "transcript",
        ["video_id", "language", "is_generated", "embedding_model"],
        unique=True,
        postgresql_where=sa.text("owner_session_id IS NULL"),
    )
    op.create_table(
        "session_video",
        sa.Column("session_id", sa.UUID(), nullable=False),
        sa.Column("video_id", sa.String(length=11), nullable=False),
        sa.Column("transcript_id", sa.UUID(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_session.id"],
            name=op.f("fk_session_video_session_id_chat_session"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transcript_id", "video_id"],
            ["transcript.id", "transcript.video_id"],
            name=op.f("fk_session_video_transcript_id_video_id_transcript"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "video_id", name=op.f("pk_session_video")),
    )
    op.create_index(
        op.f("ix_session_video_transcript_id"), "session_video", ["transcript_id"], unique=False
    )
    op.create_table(
        "transcript_chunk",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("transcript_id", sa.UUID(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("start_seconds", sa.Float(), nullable=False),
        sa.Column("end_seconds", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", VECTOR(dim=1536), nullable=False),
        sa.Column(
            "text_search",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('simple'::regconfig, text)", persisted=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcript.id"],
            name=op.f("fk_transcript_chunk_transcript_id_transcript"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_chunk")),
        sa.UniqueConstraint(
            "transcript_id", "ordinal", name=op.f("uq_transcript_chunk_transcript_id_ordinal")
        ),
    )


def downgrade() -> None:
    op.drop_table("transcript_chunk")
    op.drop_index(op.f("ix_session_video_transcript_id"), table_name="session_video")
    op.drop_table("session_video")
    op.drop_index(
        "uq_transcript_shared",
        table_name="transcript",
        postgresql_where=sa.text("owner_session_id IS NULL"),
    )
    op.drop_index(op.f("ix_transcript_owner_session_id"), table_name="transcript")
    op.drop_index(op.f("ix_transcript_last_used_at"), table_name="transcript")
    op.drop_table("transcript")
    op.drop_index("ix_chat_message_session_id_seq", table_name="chat_message")
    op.drop_table("chat_message")
    op.drop_table("video")
    op.drop_index(op.f("ix_chat_session_expires_at"), table_name="chat_session")
    op.drop_table("chat_session")
    op.execute("DROP EXTENSION IF EXISTS vector")
