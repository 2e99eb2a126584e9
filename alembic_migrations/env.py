"""Alembic environment: the URL comes from the app settings (or from the caller's Config)."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

from alembic_migrations.config.autogenerate_base_metadatas import autogenerate_base_metadatas
from alembic_migrations.config.autogenerate_excluded_tables import include_object
from services.video_rag.settings import DATABASE_URL_SETTINGS, load_settings

config = context.config
# The alembic CLI configures logging from alembic.ini; callers inside the app keep their own.
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = autogenerate_base_metadatas


def database_url() -> str:
    url = config.attributes.get("database_url") or load_settings().database_url
    if not url:
        raise SystemExit(
            f"No database configured: set {' or '.join(DATABASE_URL_SETTINGS)} "
            "(a PostgreSQL URL or libpq connection string)."
        )
    return str(url)


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
