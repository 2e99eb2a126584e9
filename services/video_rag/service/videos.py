"""Video use cases: add (fetch or upload, chunk, embed, store), list, remove.

Fetching and embedding happen outside any transaction; each video is then stored in one short
transaction (video, transcript, chunks, link), so a failure leaves nothing of it behind. Videos of
one request are processed concurrently, results come back in input order.
"""

from __future__ import annotations

import secrets
import threading
import uuid
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from services.video_rag.domain.captions import Caption, TranscriptFormatError, parse_transcript
from services.video_rag.domain.chunking import Chunk, TooManyChunks, chunk_captions
from services.video_rag.domain.errors import (
    InvalidRequest,
    RateLimited,
    SessionNotFound,
    VideoNotFound,
)
from services.video_rag.domain.youtube_urls import (
    ANY_VIDEO_ID_PATTERN,
    parse_video_reference,
    video_link,
)
from services.video_rag.service.limits import take_client_slot
from services.video_rag.service.sessions import authenticate, lifetime, require_token

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from services.video_rag.bootstrap import Dependencies
    from services.video_rag.db.repositories import SessionVideoRow
    from services.video_rag.db.unit_of_work import UnitOfWork

Status = Literal["added", "already_added", "failed"]


@dataclass(frozen=True)
class ItemError:
    """Why one video of a request failed (an item error code of the API)."""

    code: str
    message: str


class ItemFailed(Exception):
    """Raised inside the processing of one video; becomes that item's error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error = ItemError(code, message)


@dataclass(frozen=True)
class Upload:
    """A transcript the caller supplied, already parsed into captions."""

    title: str | None
    language: str
    captions: list[Caption]
    link_url: str | None = None
    timed: bool = True


@dataclass(frozen=True)
class AddItem:
    """One item of an add request: a video id from a URL, or an upload, or an early error."""

    input: str
    video_id: str | None
    upload: Upload | None = None
    error: ItemError | None = None


@dataclass(frozen=True)
class VideoView:
    """A video as the session sees it."""

    video_id: str
    title: str | None
    channel: str | None
    language: str
    is_generated: bool
    duration_seconds: float
    chunks: int
    added_at: datetime
    url: str | None  # where the video is watched: YouTube, an upload's own link, or nowhere


@dataclass(frozen=True)
class AddResult:
    """The outcome for one item, in the order of the request."""

    input: str
    video_id: str | None
    status: Status
    video: VideoView | None = None
    error: ItemError | None = None


class _KeyedLocks:
    """One lock per key, forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakValueDictionary[str, _Lock] = weakref.WeakValueDictionary()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = _Lock()
        with lock.lock:
            yield


class _Lock:
    """A lock that a WeakValueDictionary can hold (threading.Lock cannot be weakly referenced)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


# Within one worker process, concurrent adds of the same YouTube video wait for each other, so
# the transcript is fetched and embedded once (across processes the database's unique index
# decides); uploads are keyed by session too, so no session ever waits for another's upload.
_video_locks = _KeyedLocks()


@dataclass(frozen=True)
class UploadInput:
    """An uploaded transcript as the request carried it (content not yet parsed)."""

    video_id: str | None
    title: str | None
    language: str | None
    format: str
    content: object
    url: str | None = None


def prepare_items(
    urls: Sequence[str],
    uploads: Sequence[UploadInput],
    default_language: str,
    max_items: int,
    max_characters: int,
    max_captions: int,
) -> list[AddItem]:
    """Turn a request's URLs and uploads into items, in that order. An unusable URL or transcript
    becomes a failed item (nothing is requested for it); too many or too few items in all is an
    invalid request."""
    count = len(urls) + len(uploads)
    if not 1 <= count <= max_items:
        raise InvalidRequest(
            f"send between 1 and {max_items} items in `urls` and `transcripts` together",
            details=[
                {
                    "field": "urls",
                    "message": f"{count} items; allowed 1 to {max_items}",
                    "type": "item_count",
                }
            ],
        )
    items = [_url_item(url) for url in urls]
    items += [
        _upload_item(upload, default_language, max_characters, max_captions) for upload in uploads
    ]
    return items


def _url_item(url: str) -> AddItem:
    video_id = parse_video_reference(url)
    if video_id is None:
        return AddItem(url, None, error=ItemError("invalid_url", "not a YouTube video URL"))
    return AddItem(url, video_id)


def _upload_item(
    upload: UploadInput, default_language: str, max_characters: int, max_captions: int
) -> AddItem:
    # An upload without an id gets one that cannot be taken for a YouTube id (not 11 characters).
    video_id = upload.video_id or f"upload-{secrets.token_urlsafe(12)}"
    upload = replace(upload, video_id=video_id)
    content_size = len(upload.content) if isinstance(upload.content, str) else 0
    if content_size > max_characters:
        error = ItemError(
            "invalid_transcript",
            f"the transcript is too long ({content_size} characters; "
            f"the limit is {max_characters})",
        )
        return AddItem(video_id, video_id, error=error)
    try:
        captions = parse_transcript(upload.format, upload.content, max_captions)
    except TranscriptFormatError as exc:
        return AddItem(video_id, video_id, error=ItemError("invalid_transcript", str(exc)))
    language = upload.language or default_language
    parsed = Upload(upload.title, language, captions, upload.url, upload.format != "text")
    return AddItem(video_id, video_id, parsed)


def add_requested_videos(
    deps: Dependencies,
    session_id: uuid.UUID,
    urls: Sequence[str],
    uploads: Sequence[UploadInput],
    languages: Sequence[str] | None,
    client: str | None = None,
) -> list[AddResult]:
    """Add a request's URLs and uploads (in that order) to a session authenticated with
    `sessions.session_key`, in `languages` (default: YOUTUBE_LANGUAGES), within the limits of
    the settings and of the `client` address (CLIENT_PASSAGES_PER_HOUR). Items fail one by one;
    the others still succeed."""
    settings = deps.settings
    languages = list(languages or settings.youtube_languages)
    items = prepare_items(
        urls,
        uploads,
        default_language=languages[0],
        max_items=settings.max_videos_per_request,
        max_characters=settings.max_transcript_chars,
        max_captions=settings.max_captions_per_upload,
    )
    return add_videos(deps, session_id, items, languages, client)


def add_videos(
    deps: Dependencies,
    session_id: uuid.UUID,
    items: Sequence[AddItem],
    languages: Sequence[str],
    client: str | None = None,
) -> list[AddResult]:
    """Add prepared items to a session. Items fail one by one; the others still succeed."""

    def add(item: AddItem) -> AddResult:
        return _add_one(deps, session_id, item, languages, client)

    workers = min(deps.settings.ingest_concurrency, len(items))
    if workers <= 1:
        return [add(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
        return list(pool.map(add, items))


def list_videos(deps: Dependencies, token: str | None) -> list[VideoView]:
    """The caller's videos, in the order they were added."""
    token_hash = require_token(token)
    with deps.uow() as uow:
        session = authenticate(uow, token_hash, deps.clock(), lifetime(deps.settings))
        return [_view(row) for row in uow.videos.list_for_session(session.id)]


def remove_video(deps: Dependencies, token: str | None, video_id: str) -> None:
    """Remove one video from the caller's session (and its transcript if the session uploaded
    it). Raises VideoNotFound when the session does not have it, whoever else might."""
    token_hash = require_token(token)
    with deps.uow() as uow:
        session = authenticate(uow, token_hash, deps.clock(), lifetime(deps.settings))
        if not ANY_VIDEO_ID_PATTERN.fullmatch(video_id):  # e.g. a NUL: no video has that id
            raise VideoNotFound()
        if uow.videos.unlink(session.id, video_id) is None:
            raise VideoNotFound()
        uow.commit()


def _add_one(
    deps: Dependencies,
    session_id: uuid.UUID,
    item: AddItem,
    languages: Sequence[str],
    client: str | None,
) -> AddResult:
    if item.error is not None or item.video_id is None:
        return AddResult(item.input, item.video_id, "failed", error=item.error)
    video_id = item.video_id
    # Only a shared YouTube transcript is worth waiting for (it is fetched and embedded once);
    # an upload is private, so it waits only for the same session adding the same id.
    lock_key = video_id if item.upload is None else f"{session_id}/{video_id}"
    try:
        with _video_locks.hold(lock_key):
            existing = _session_video(deps, session_id, video_id)
            if existing is not None:
                return AddResult(item.input, video_id, "already_added", video=_view(existing))
            _check_room(deps, session_id)
            if item.upload is not None:
                view = _store_upload(deps, session_id, video_id, item.upload, client)
            else:
                view = _link_shared(deps, session_id, video_id, languages) or _fetch_and_store(
                    deps, session_id, video_id, languages, client
                )
    except ItemFailed as failure:
        return AddResult(item.input, video_id, "failed", error=failure.error)
    return AddResult(item.input, video_id, "added", video=view)


def _session_video(
    deps: Dependencies, session_id: uuid.UUID, video_id: str
) -> SessionVideoRow | None:
    with deps.uow() as uow:
        return uow.videos.get_for_session(session_id, video_id)


def _check_room(
    deps: Dependencies, session_id: uuid.UUID, new_chunks: int = 0, client: str | None = None
) -> None:
    """Fail early (before fetching or embedding) when the session has no room; the storing
    transaction checks again under the session's lock (`_claim_session`). With `new_chunks`,
    they count against the client's CLIENT_PASSAGES_PER_HOUR from here on (embedding costs)."""
    with deps.uow() as uow:
        _raise_if_no_room(deps, uow, session_id, new_chunks)
        if new_chunks:
            limit = deps.settings.client_passages_per_hour
            try:
                take_client_slot(uow, "passages", client, deps.clock(), limit, new_chunks)
            except RateLimited as exc:
                raise ItemFailed("rate_limited", exc.message) from None
            uow.commit()


def _raise_if_no_room(
    deps: Dependencies, uow: UnitOfWork, session_id: uuid.UUID, new_chunks: int
) -> None:
    limit = deps.settings.max_videos_per_session
    count = uow.sessions.count_videos(session_id)
    if count >= limit:
        raise ItemFailed(
            "session_video_limit", f"this session already has {count} videos (the limit is {limit})"
        )
    if new_chunks == 0:
        return
    limit = deps.settings.max_chunks_per_session
    stored = uow.sessions.count_chunks(session_id)
    if stored + new_chunks > limit:
        raise ItemFailed(
            "session_chunk_limit",
            f"this session holds {stored} passages and this video has {new_chunks}; "
            f"the limit is {limit} (MAX_CHUNKS_PER_SESSION; remove a video first)",
        )


def _link_shared(
    deps: Dependencies, session_id: uuid.UUID, video_id: str, languages: Sequence[str]
) -> VideoView | None:
    """Link a transcript another session already fetched and embedded; None if there is none."""
    model = deps.settings.embedding_model_label
    with deps.uow() as uow:
        candidates = uow.videos.find_shared_transcripts(video_id, languages, model)
        if not candidates:
            return None
        best = min(candidates, key=lambda t: (list(languages).index(t.language), t.is_generated))
        _claim_session(deps, uow, session_id, best.chunk_count)
        return _link_in(deps, uow, session_id, video_id, best.id)


def _claim_session(
    deps: Dependencies, uow: UnitOfWork, session_id: uuid.UUID, new_chunks: int
) -> None:
    """First thing in a storing transaction: lock the session row (adds to one session run one
    at a time, before any insert takes a key-share lock on it) and check its limits: videos,
    and chunks with the `new_chunks` about to be added (MAX_CHUNKS_PER_SESSION)."""
    if not uow.sessions.lock(session_id):
        raise SessionNotFound("the session ended while the video was being added")
    _raise_if_no_room(deps, uow, session_id, new_chunks)


def _link_in(
    deps: Dependencies,
    uow: UnitOfWork,
    session_id: uuid.UUID,
    video_id: str,
    transcript_id: uuid.UUID,
) -> VideoView | None:
    """Inside a claimed `uow`: link, commit, and describe the result. None (and nothing
    committed) when the transcript is gone."""
    now = deps.clock()
    # Touching the transcript claims it against a concurrent cleanup; if the cleanup got it
    # first, the caller fetches it anew.
    if not uow.videos.touch_transcript(transcript_id, now):
        return None
    uow.videos.link(session_id, video_id, transcript_id, now)
    row = uow.videos.get_for_session(session_id, video_id)
    uow.commit()
    return _view(row) if row is not None else None


def _fetch_and_store(
    deps: Dependencies,
    session_id: uuid.UUID,
    video_id: str,
    languages: Sequence[str],
    client: str | None,
) -> VideoView:
    from services.video_rag.db.repositories import NewTranscript
    from services.video_rag.providers.youtube import TranscriptFetchError

    source = deps.get_transcript_source()
    try:
        fetched = source.fetch(video_id, languages)
    except TranscriptFetchError as exc:
        raise ItemFailed(exc.code, exc.message) from None
    chunks = _chunk(deps, fetched.captions)
    _check_room(deps, session_id, len(chunks), client)
    metadata = source.metadata(video_id)
    vectors = _embed(deps, chunks)
    new = NewTranscript(
        video_id=video_id,
        language=fetched.language,
        is_generated=fetched.is_generated,
        embedding_model=deps.settings.embedding_model_label,
        title=None,
        duration_seconds=_duration(fetched.captions),
        chunk_count=len(chunks),
        embedding_dimensions=vectors.shape[1],
    )
    with deps.uow() as uow:
        _claim_session(deps, uow, session_id, len(chunks))
        uow.videos.ensure_video(video_id, metadata.title, metadata.channel, deps.clock())
        transcript_id = uow.videos.insert_shared_transcript(new, deps.clock())
        if transcript_id is not None:
            uow.videos.insert_chunks(transcript_id, chunks, vectors)
        else:  # another process stored the same transcript meanwhile: use theirs
            transcript_id = next(
                (
                    t.id
                    for t in uow.videos.find_shared_transcripts(
                        video_id, [new.language], new.embedding_model
                    )
                    if t.is_generated == new.is_generated
                ),
                None,
            )
        view = (
            _link_in(deps, uow, session_id, video_id, transcript_id)
            if transcript_id is not None
            else None
        )
    if view is None:
        raise ItemFailed(
            "youtube_error", "the transcript was removed while it was being added; retry"
        )
    return view


def _store_upload(
    deps: Dependencies, session_id: uuid.UUID, video_id: str, upload: Upload, client: str | None
) -> VideoView:
    from services.video_rag.db.repositories import NewTranscript

    chunks = _chunk(deps, upload.captions)
    _check_room(deps, session_id, len(chunks), client)
    vectors = _embed(deps, chunks)
    new = NewTranscript(
        video_id=video_id,
        language=upload.language,
        is_generated=False,
        embedding_model=deps.settings.embedding_model_label,
        title=upload.title,
        duration_seconds=_duration(upload.captions),
        chunk_count=len(chunks),
        embedding_dimensions=vectors.shape[1],
        link_url=upload.link_url,
        timed=upload.timed,
    )
    with deps.uow() as uow:
        _claim_session(deps, uow, session_id, len(chunks))
        uow.videos.ensure_video(video_id, None, None, deps.clock())
        transcript_id = uow.videos.insert_uploaded_transcript(new, session_id, deps.clock())
        uow.videos.insert_chunks(transcript_id, chunks, vectors)
        view = _link_in(deps, uow, session_id, video_id, transcript_id)
    if view is None:  # pragma: no cover - an upload belongs to this session; nobody else deletes it
        raise ItemFailed("invalid_transcript", "the upload could not be stored; retry")
    return view


def _chunk(deps: Dependencies, captions: Sequence[Caption]) -> list[Chunk]:
    """The transcript's chunks, within MAX_CHUNKS_PER_TRANSCRIPT and MAX_TRANSCRIPT_CHARS."""
    settings = deps.settings
    try:
        chunks = chunk_captions(captions, max_chunks=settings.max_chunks_per_transcript)
    except TooManyChunks as exc:
        raise ItemFailed(
            "transcript_too_long",
            f"the transcript makes more than {exc.limit} passages "
            "(MAX_CHUNKS_PER_TRANSCRIPT); split it into parts",
        ) from None
    if not chunks:
        raise ItemFailed("invalid_transcript", "the transcript has no text")
    characters = sum(len(chunk.text) - chunk.overlap_chars for chunk in chunks)
    limit = settings.max_transcript_chars
    if characters > limit:
        raise ItemFailed(
            "invalid_transcript",
            f"the transcript is too long ({characters} characters; the limit is {limit})",
        )
    return chunks


def _embed(deps: Dependencies, chunks: Sequence[Chunk]) -> npt.NDArray[np.float32]:
    """The chunks' vectors, one float32 row each, embedded EMBEDDING_BATCH_SIZE texts at a time:
    the provider's lists of Python floats (8 times the size) never exist for more than one
    batch."""
    import numpy as np

    from services.video_rag.providers.embeddings import EmbeddingFailed

    embedder = deps.get_embedder()
    batch = deps.settings.embedding_batch_size
    vectors: npt.NDArray[np.float32] | None = None
    try:
        for start in range(0, len(chunks), batch):
            texts = [chunk.text for chunk in chunks[start : start + batch]]
            part = np.asarray(embedder.embed_documents(texts), dtype=np.float32)
            if vectors is None:
                vectors = np.empty((len(chunks), part.shape[1]), dtype=np.float32)
            vectors[start : start + len(part)] = part
    except EmbeddingFailed as exc:
        raise ItemFailed("embedding_error", str(exc)) from None
    if vectors is None:
        raise ItemFailed("invalid_transcript", "the transcript has no text")
    return vectors


def _duration(captions: Sequence[Caption]) -> float:
    return max((caption.end for caption in captions), default=0.0)


def _view(row: SessionVideoRow) -> VideoView:
    return VideoView(
        video_id=row.video_id,
        title=row.title,
        channel=row.channel,
        language=row.language,
        is_generated=row.is_generated,
        duration_seconds=row.duration_seconds,
        chunks=row.chunks,
        added_at=row.added_at,
        url=video_link(row.video_id, row.link_url),
    )
