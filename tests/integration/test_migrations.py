"""Alembic owns the schema: upgrade from empty, no drift, clean downgrade, cascades in place."""

from collections.abc import Callable

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from alembic_migrations.config.autogenerate_excluded_tables import include_object
from services.video_rag.db.migrations import alembic_config, head_revision
from services.video_rag.db.models import metadata

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
