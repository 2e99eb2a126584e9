"""Alembic owns the schema: upgrade from empty, no drift, clean downgrade, cascades in place."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alembic_migrations.config.autogenerate_excluded_tables import include_object
from services.video_rag.db.migrations import alembic_config, head_revision
from services.video_rag.db.models import Transcript, TranscriptChunk, metadata
from services.video_rag.db.retrieval import RetrievalRepository
from services.video_rag.settings import load_settings
from tests.factories import add_transcript

pytestmark = pytest.mark.db

SESSION_OWNED = {
    ("chat_message", "session_id"),
    ("session_video", "session_id"),
    ("transcript", "owner_session_id"),
}


def test_upgrade_from_empty_then_no_drift_then_downgrade(
    create_database: Callable[[], str],
) -> None:
    url = create_database()
    config = alembic_config(url)
    command.upgrade(config, "head")
    engine = create_engine(url)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head_revision()
        extensions = connection.execute(text("SELECT extname FROM pg_extension")).scalars().all()
        assert "vector" in extensions
        assert set(inspect(connection).get_table_names()) == {
            "alembic_version",
            *metadata.tables,
        }
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_object": include_object,
            },
        )
        assert compare_metadata(context, metadata) == []

    command.downgrade(config, "base")
    with engine.connect() as connection:
        assert inspect(connection).get_table_names() == ["alembic_version"]
        assert (
            "vector"
            not in connection.execute(text("SELECT extname FROM pg_extension")).scalars().all()
        )
    command.upgrade(config, "head")  # and back again
    engine.dispose()


def test_everything_a_session_owns_cascades(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        inspector = inspect(connection)
        found = set()
        for table in metadata.tables:
            for fk in inspector.get_foreign_keys(table):
                if fk["referred_table"] == "chat_session":
                    assert fk["options"].get("ondelete") == "CASCADE", (table, fk)
                    found.add((table, fk["constrained_columns"][0]))
                if fk["referred_table"] == "transcript":
                    assert fk["options"].get("ondelete") == "CASCADE", (table, fk)
    engine.dispose()
    assert found == SESSION_OWNED


def test_tables_owned_by_other_libraries_are_not_drift(create_database: Callable[[], str]) -> None:
    url = create_database()
    command.upgrade(alembic_config(url), "head")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE langchain_pg_collection (uuid uuid PRIMARY KEY)"))
        connection.execute(text("CREATE TABLE langchain_chat_message (id serial PRIMARY KEY)"))
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def _column_type(connection: Connection, table: str, column: str) -> str:
    return str(
        connection.scalar(
            text(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = CAST(:table AS regclass) AND attname = :column"
            ),
            {"table": table, "column": column},
        )
    )


def test_0004_keeps_the_rows_of_0003_and_downgrades_while_all_are_1536_wide(
    create_database: Callable[[], str],
) -> None:
    """Upgrade from 0003 with a session's transcript in it: nothing lost, each transcript 1536
    wide, the column unconstrained; vectors of other widths then fit beside them. The downgrade
    refuses (changing nothing) while such vectors exist, and works once they are gone."""
    url = create_database()
    config = alembic_config(url)
    command.upgrade(config, "0003")
    engine = create_engine(url)
    session_id, transcript_id = uuid.uuid4(), uuid.uuid4()
    old_vector = [(i % 7) / 7.0 - 0.5 for i in range(1536)]
    with engine.begin() as connection:
        assert _column_type(connection, "transcript_chunk", "embedding") == "vector(1536)"
        connection.execute(
            text(
                "INSERT INTO chat_session (id, token_hash, created_at, expires_at) "
                "VALUES (:id, :hash, now(), now() + interval '1 day')"
            ),
            {"id": session_id, "hash": b"h" * 32},
        )
        connection.execute(text("INSERT INTO video (id, title) VALUES ('oldVideo001', 'Old')"))
        connection.execute(
            text(
                "INSERT INTO transcript (id, video_id, language, is_generated, source, "
                "embedding_model, duration_seconds, chunk_count) VALUES (:id, 'oldVideo001', "
                "'en', false, 'youtube', 'text-embedding-3-small', 30, 1)"
            ),
            {"id": transcript_id},
        )
        connection.execute(
            text(
                "INSERT INTO transcript_chunk (transcript_id, ordinal, start_seconds, "
                "end_seconds, text, embedding) VALUES (:id, 0, 0, 30, 'the battery lasts', "
                "CAST(:vector AS vector))"
            ),
            {"id": transcript_id, "vector": str(old_vector)},
        )
        connection.execute(
            text(
                "INSERT INTO session_video (session_id, video_id, transcript_id, added_at) "
                "VALUES (:session, 'oldVideo001', :transcript, now())"
            ),
            {"session": session_id, "transcript": transcript_id},
        )

    command.upgrade(config, "head")
    with Session(engine) as db:
        connection = db.connection()
        assert _column_type(connection, "transcript_chunk", "embedding") == "vector"
        transcript = db.get(Transcript, transcript_id)
        assert transcript is not None
        assert (transcript.embedding_model, transcript.embedding_dimensions) == (
            "text-embedding-3-small",
            1536,
        )
        stored = db.scalar(select(TranscriptChunk.embedding))
        assert stored is not None
        assert list(stored) == pytest.approx(old_vector, abs=1e-7)
        # The settings' label for OpenAI's default model still finds the transcript of 0003.
        label = load_settings({"OPENAI_API_KEY": "k"}).embedding_model_label
        (found,) = RetrievalRepository(db).hybrid_search(
            session_id, old_vector, "battery", embedding_model=label
        )
        assert (found.video_id, found.text) == ("oldVideo001", "the battery lasts")
        # A transcript with no width is refused; a 256-wide one fits beside the old one.
        with pytest.raises(IntegrityError), db.begin_nested():
            db.execute(
                text("UPDATE transcript SET embedding_dimensions = 0 WHERE id = :id"),
                {"id": transcript_id},
            )
        narrow = add_transcript(
            db,
            "newVideo001",
            chunks=2,
            last_used_at=datetime.now(UTC),
            embedding_model="wordllama-l2-supercat@256",
            dimensions=256,
        )
        narrow_id = narrow.id
        db.commit()

    with pytest.raises(RuntimeError, match=r"1 transcript.*DELETE FROM transcript"):
        command.downgrade(config, "0003")
    with engine.connect() as connection:
        # Each migration is its own transaction: 0005 went down, 0004 refused and changed nothing.
        assert MigrationContext.configure(connection).get_current_revision() == "0004"
        assert connection.scalar(text("SELECT count(*) FROM transcript_chunk")) == 3

    with engine.begin() as connection:
        connection.execute(text("DELETE FROM transcript WHERE id = :id"), {"id": narrow_id})
    command.downgrade(config, "0003")
    with engine.connect() as connection:
        assert _column_type(connection, "transcript_chunk", "embedding") == "vector(1536)"
        assert "embedding_dimensions" not in {
            column["name"] for column in inspect(connection).get_columns("transcript")
        }
        assert connection.scalar(text("SELECT count(*) FROM session_video")) == 1
        assert connection.scalar(text("SELECT count(*) FROM transcript_chunk")) == 1
    command.upgrade(config, "head")
    engine.dispose()


def test_0005_keeps_chunks_and_takes_long_video_ids(create_database: Callable[[], str]) -> None:
    """Chunks stored before 0005 get no moments (`[]`); video ids of up to 64 characters fit after
    it, and the downgrade removes the videos whose ids no longer fit."""
    url = create_database()
    config = alembic_config(url)
    command.upgrade(config, "0004")
    engine = create_engine(url)
    with engine.begin() as connection:  # rows as 0004 stored them (the models are ahead)
        connection.execute(text("INSERT INTO video (id) VALUES ('oldVideo001')"))
        transcript_id = connection.scalar(
            text(
                "INSERT INTO transcript (id, video_id, language, is_generated, source, "
                "embedding_model, embedding_dimensions, duration_seconds, chunk_count) VALUES "
                "(gen_random_uuid(), 'oldVideo001', 'en', false, 'youtube', 'm', 3, 30, 1) "
                "RETURNING id"
            )
        )
        connection.execute(
            text(
                "INSERT INTO transcript_chunk (transcript_id, ordinal, start_seconds, "
                "end_seconds, text, embedding) VALUES (:id, 0, 0, 30, 'old', '[1,0,0]')"
            ),
            {"id": transcript_id},
        )
    command.upgrade(config, "0005")
    long_id = "an-upload-of-my-own-" + "x" * 44
    with Session(engine) as db:
        assert db.scalar(select(TranscriptChunk.moments)) == []
        assert db.scalar(select(Transcript.timed)) is True
        assert db.scalar(select(Transcript.link_url)) is None
        add_transcript(db, long_id, chunks=1, last_used_at=datetime.now(UTC))
        db.commit()
    command.downgrade(config, "0004")
    with engine.connect() as connection:
        ids = set(connection.scalars(text("SELECT id FROM video")))
    assert ids == {"oldVideo001"}
