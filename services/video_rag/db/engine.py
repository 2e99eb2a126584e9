"""Engine construction. Called lazily by the bootstrap, never at import time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

CONNECT_TIMEOUT_SECONDS = 5
# psycopg prepares a statement the fifth time a connection runs it; from then on PostgreSQL would
# still plan it anew at every execution whenever it judges a custom plan cheaper, which for the
# hybrid search cost about 1 ms of the server's time per question (`python -m
# benchmarks.retrieval`). Every statement of the app is an equality lookup by key or a session's
# scan, for which one plan fits every value, so each connection reuses one generic plan.
PLAN_CACHE_MODE = "force_generic_plan"


def create_database_engine(database_url: str) -> Engine:
    """A pooled engine that notices dropped connections (a restarted database) by itself."""
    engine = create_engine(
        database_url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=10,
        pool_recycle=1800,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "application_name": "video-rag"},
    )
    event.listen(engine, "connect", register_vector_types)
    event.listen(engine, "connect", use_generic_plans)
    return engine


def use_generic_plans(dbapi_connection: Any, connection_record: Any = None) -> None:
    """Make a new connection reuse one plan per prepared statement (see PLAN_CACHE_MODE). A
    session setting, set once per connection and committed (it would not survive a rollback)."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET plan_cache_mode = {PLAN_CACHE_MODE}")
    dbapi_connection.commit()


def register_vector_types(dbapi_connection: Any, connection_record: Any = None) -> None:
    """Teach a new connection pgvector's binary format (one type lookup per connection).
    Before the `vector` extension exists (a database not yet migrated) there is nothing to
    register, and vectors fall back to the text form."""
    from pgvector.psycopg import register_vector
    from psycopg import ProgrammingError

    try:
        register_vector(dbapi_connection)
    except ProgrammingError:
        pass
    finally:
        dbapi_connection.rollback()  # the lookup must not leave a transaction open


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)
