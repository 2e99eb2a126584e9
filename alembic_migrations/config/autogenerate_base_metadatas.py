"""The metadata of every service whose tables Alembic manages (one entry per service)."""

from sqlalchemy import MetaData

from services.video_rag.db.models import metadata as video_rag_metadata

autogenerate_base_metadatas: list[MetaData] = [
    video_rag_metadata,
]
