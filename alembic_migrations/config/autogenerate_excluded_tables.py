"""Tables that other libraries own. Autogenerate neither creates nor drops them.

The original project kept embeddings in langchain-postgres' `PGVector` tables and chat history in
`PostgresChatMessageHistory`'s table (named by LANGCHAIN_CHAT_MESSAGE_TABLE_NAME). A database that
still has them, or the retrieval benchmark's baseline that creates them, must not show up as drift.
"""

from typing import Any

from services.video_rag.settings import load_settings

autogenerate_excluded_tables: frozenset[str] = frozenset(
    {
        "langchain_pg_collection",
        "langchain_pg_embedding",
        load_settings().langchain_chat_message_table_name,
    }
)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's `include_object` hook: leave excluded tables (and their indexes) alone."""
    if type_ == "table":
        return name not in autogenerate_excluded_tables
    table = getattr(obj, "table", None)
    if table is not None:
        return table.name not in autogenerate_excluded_tables
    return True
