"""Video use cases: add (fetch or upload, chunk, embed, store), list, remove.

Adding is one pipeline (`add_videos`), read top-down:

1. check the request against the session, once for all its items (one unit of work): the videos
   it already has, how many videos and passages it holds, the shared transcripts it can reuse;
2. then each item, all at once: reuse a shared transcript (one unit of work: link it), or fetch
   it from YouTube (an upload is already parsed) -> chunk -> count its passages against the
   client (one unit of work, when CLIENT_PASSAGES_PER_HOUR is on) -> embed -> store (one unit of
   work: video, transcript, chunks, link).

Fetching and embedding wait on the network, not on the database: every item of a request does
them at the same time, outside any transaction, while the request's units of work hold at most
INGEST_CONCURRENCY pooled connections at once (each lasts milliseconds). An item fails alone and
leaves nothing behind; results come back in input order. An item takes at most two units of work;
a third only when a race makes it fetch after all (another add of the same video in this process
did not store a usable transcript, or the cleanup deleted the shared one it was about to link).
"""

from __future__ import annotations

import secrets
import threading
import uuid
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
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
from services.video_rag.service.sessions import authenticated

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from services.video_rag.bootstrap import Dependencies
    from services.video_rag.db.repositories import SessionVideoRow, SharedTranscriptRow
    from services.video_rag.db.unit_of_work import UnitOfWork
    from services.video_rag.settings import Settings

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
    def hold(self, key: str) -> Iterator[bool]:
        """Hold the key's lock; yields True when another thread held it first (and may have
        changed what the holder is about to look at)."""
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = _Lock()
        waited = not lock.lock.acquire(blocking=False)
        if waited:
            lock.lock.acquire()
        try:
            yield waited
        finally:
            lock.lock.release()


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
        captions = parse_transcript(upload.format, upload.content, max_captions, max_characters)
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
    """Add prepared items to a session: check the request once, then take every item that needs
    work through the pipeline at the same time (see the module's docstring). Items fail one by
    one; the others still succeed."""
    if all(item.error is not None or item.video_id is None for item in items):
        return [AddResult(item.input, item.video_id, "failed", error=item.error) for item in items]
    request = _AddRequest.check(deps, session_id, items, languages, client)
    busy = sum(request.needs_work(item) for item in items)
    if busy <= 1:
        return [request.add(item) for item in items]
    # One thread per item that fetches or embeds (at most MAX_VIDEOS_PER_REQUEST): they wait on
    # the network; the database sees at most INGEST_CONCURRENCY of them at once.
    with ThreadPoolExecutor(max_workers=busy, thread_name_prefix="ingest") as pool:
        return list(pool.map(request.add, items))


def list_videos(deps: Dependencies, token: str | None) -> list[VideoView]:
    """The caller's videos, in the order they were added."""
    with authenticated(deps, token) as (uow, session):
        return [_view(row) for row in uow.videos.list_for_session(session.id)]


def remove_video(deps: Dependencies, token: str | None, video_id: str) -> None:
    """Remove one video from the caller's session (and its transcript if the session uploaded
    it). Raises VideoNotFound when the session does not have it, whoever else might."""
    with authenticated(deps, token) as (uow, session):
        if not ANY_VIDEO_ID_PATTERN.fullmatch(video_id):  # e.g. a NUL: no video has that id
            raise VideoNotFound()
        if uow.videos.unlink(session.id, video_id) is None:
            raise VideoNotFound()
        uow.commit()


@dataclass
class _Room:
    """The session's videos and passages as the request's check counted them, plus what the
    request's items have taken since. Each item takes its video before fetching and its passages
    before embedding (giving them back if it fails), so the request fetches and embeds nothing
    that MAX_VIDEOS_PER_SESSION or MAX_CHUNKS_PER_SESSION would refuse; the storing transaction
    checks again under the session's lock, which also counts other requests."""

    settings: Settings
    videos: int
    chunks: int
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def taken(self, videos: int = 0, chunks: int = 0) -> Iterator[None]:
        """Take room for the block; given back if the block raises. ItemFailed if none."""
        with self._lock:
            refusal = _no_room(self.settings, self.videos, self.chunks, videos, chunks)
            if refusal is not None:
                raise refusal
            self.videos += videos
            self.chunks += chunks
        try:
            yield
        except BaseException:
            with self._lock:
                self.videos -= videos
                self.chunks -= chunks
            raise


class _TranscriptGone(Exception):
    """The shared transcript about to be linked was deleted meanwhile (by the cleanup)."""


@dataclass
class _AddRequest:
    """One add request once checked against its session: the pipeline of each of its items."""

    deps: Dependencies
    session_id: uuid.UUID
    languages: Sequence[str]
    client: str | None
    added: dict[str, SessionVideoRow]  # the session's videos before the request, by id
    shared: dict[str, SharedTranscriptRow]  # the transcript to reuse, by YouTube id
    room: _Room
    connections: threading.BoundedSemaphore  # INGEST_CONCURRENCY units of work at once
    embedding: threading.BoundedSemaphore  # INGEST_CONCURRENCY items embedded-and-stored at once

    @classmethod
    def check(
        cls,
        deps: Dependencies,
        session_id: uuid.UUID,
        items: Sequence[AddItem],
        languages: Sequence[str],
        client: str | None,
    ) -> _AddRequest:
        """Step 1, one unit of work for all the items: the session's videos (and so its counts)
        and the shared transcripts of the YouTube videos it does not have yet."""
        languages = list(languages)
        model = deps.settings.embedding_model_label
        with deps.uow() as uow:
            rows = uow.videos.list_for_session(session_id)
            added = {row.video_id: row for row in rows}
            youtube = {
                item.video_id
                for item in items
                if item.error is None and item.upload is None and item.video_id is not None
            }
            shared = {
                video_id: best
                for video_id in sorted(youtube - added.keys())
                if (best := _best_shared(uow, video_id, languages, model)) is not None
            }
        settings = deps.settings
        room = _Room(settings, videos=len(rows), chunks=sum(row.chunks for row in rows))
        connections = threading.BoundedSemaphore(settings.ingest_concurrency)
        embedding = threading.BoundedSemaphore(settings.ingest_concurrency)
        return cls(deps, session_id, languages, client, added, shared, room, connections, embedding)

    def needs_work(self, item: AddItem) -> bool:
        """Whether the item goes through the pipeline (it is neither failed nor already in the
        session)."""
        return item.error is None and item.video_id is not None and item.video_id not in self.added

    @contextmanager
    def uow(self) -> Iterator[UnitOfWork]:
        """A unit of work on one of the request's INGEST_CONCURRENCY connections."""
        with self.connections, self.deps.uow() as uow:
            yield uow

    def add(self, item: AddItem) -> AddResult:
        """Step 2 for one item; its result, failed or not."""
        video_id = item.video_id
        if item.error is not None or video_id is None:
            return AddResult(item.input, video_id, "failed", error=item.error)
        if video_id in self.added:
            view = _view(self.added[video_id])
            return AddResult(item.input, video_id, "already_added", video=view)
        # Only a shared YouTube transcript is worth waiting for (it is fetched and embedded once);
        # an upload is private, so it waits only for the same session adding the same id.
        lock_key = video_id if item.upload is None else f"{self.session_id}/{video_id}"
        try:
            with _video_locks.hold(lock_key) as waited:
                return self._add_new(item, video_id, waited)
        except ItemFailed as failure:
            return AddResult(item.input, video_id, "failed", error=failure.error)

    def _add_new(self, item: AddItem, video_id: str, waited: bool) -> AddResult:
        shared = self.shared.get(video_id) if item.upload is None else None
        if waited or shared is not None:
            with self.uow() as uow:
                if waited:  # another add of this id went first: what did it store?
                    row = uow.videos.get_for_session(self.session_id, video_id)
                    if row is not None:
                        return AddResult(item.input, video_id, "already_added", video=_view(row))
                    if item.upload is None:
                        model = self.deps.settings.embedding_model_label
                        shared = _best_shared(uow, video_id, self.languages, model)
                view = self._link(uow, video_id, shared) if shared is not None else None
            if view is not None:
                return AddResult(item.input, video_id, "added", video=view)
        with self.room.taken(videos=1):  # before fetching
            if item.upload is None:
                view = self._fetch_and_store(video_id)
            else:
                view = self._store_upload(video_id, item.upload)
        return AddResult(item.input, video_id, "added", video=view)

    def _link(
        self, uow: UnitOfWork, video_id: str, shared: SharedTranscriptRow
    ) -> VideoView | None:
        """Reuse a transcript another session fetched and embedded, inside `uow`; None (and
        nothing committed) when it is gone."""
        try:
            with self.room.taken(videos=1, chunks=shared.chunk_count):
                _claim_session(self.deps, uow, self.session_id, shared.chunk_count)
                view = _link_in(self.deps, uow, self.session_id, video_id, shared.id)
                if view is None:
                    raise _TranscriptGone()
        except _TranscriptGone:
            return None
        return view

    @contextmanager
    def _embedded(
        self, captions: Sequence[Caption]
    ) -> Iterator[tuple[list[Chunk], npt.NDArray[np.float32]]]:
        """Chunk -> take room for the passages in the session and count them against the
        client -> embed: the chunks and their vectors, for the block that stores them (the room
        is given back if it fails). At most INGEST_CONCURRENCY items of the request hold vectors
        at once, so memory follows that, not MAX_VIDEOS_PER_REQUEST (fetching stays parallel)."""
        chunks = _chunk(self.deps, captions)
        with self.embedding, self.room.taken(chunks=len(chunks)):
            self._count_passages(len(chunks))
            yield chunks, _embed(self.deps, chunks)

    def _count_passages(self, passages: int) -> None:
        """Count the passages about to be embedded against the client's CLIENT_PASSAGES_PER_HOUR
        (one unit of work; none when the limit is off)."""
        limit = self.deps.settings.client_passages_per_hour
        if limit == 0:
            return
        with self.uow() as uow:
            try:
                take_client_slot(uow, "passages", self.client, self.deps.clock(), limit, passages)
            except RateLimited as exc:
                raise ItemFailed("rate_limited", exc.message) from None
            uow.commit()

    def _fetch_and_store(self, video_id: str) -> VideoView:
        from services.video_rag.db.repositories import NewTranscript
        from services.video_rag.providers.youtube import TranscriptFetchError

        deps = self.deps
        source = deps.get_transcript_source()
        try:
            fetched = source.fetch(video_id, self.languages)
        except TranscriptFetchError as exc:
            raise ItemFailed(exc.code, exc.message) from None
        with self._embedded(fetched.captions) as (chunks, vectors):
            metadata = source.metadata(video_id)
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
            with self.uow() as uow:
                _keep_session(uow, self.session_id)
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
                _claim_session(deps, uow, self.session_id, len(chunks))
                view = (
                    _link_in(deps, uow, self.session_id, video_id, transcript_id)
                    if transcript_id is not None
                    else None
                )
            if view is None:
                raise ItemFailed(
                    "youtube_error", "the transcript was removed while it was being added; retry"
                )
        return view

    def _store_upload(self, video_id: str, upload: Upload) -> VideoView:
        from services.video_rag.db.repositories import NewTranscript

        deps = self.deps
        with self._embedded(upload.captions) as (chunks, vectors):
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
            with self.uow() as uow:
                _keep_session(uow, self.session_id)
                uow.videos.ensure_video(video_id, None, None, deps.clock())
                owner = self.session_id
                transcript_id = uow.videos.insert_uploaded_transcript(new, owner, deps.clock())
                uow.videos.insert_chunks(transcript_id, chunks, vectors)
                _claim_session(deps, uow, self.session_id, len(chunks))
                view = _link_in(deps, uow, self.session_id, video_id, transcript_id)
            if view is None:  # pragma: no cover - an upload is this session's; nobody deletes it
                raise ItemFailed("invalid_transcript", "the upload could not be stored; retry")
        return view


def _best_shared(
    uow: UnitOfWork, video_id: str, languages: Sequence[str], model: str
) -> SharedTranscriptRow | None:
    """The shared transcript of the video in the first of `languages` it has, made by a person
    rather than generated if both exist; None when there is none."""
    candidates = uow.videos.find_shared_transcripts(video_id, languages, model)
    order = list(languages)
    return min(candidates, key=lambda t: (order.index(t.language), t.is_generated), default=None)


def _no_room(
    settings: Settings, videos: int, chunks: int, new_videos: int, new_chunks: int
) -> ItemFailed | None:
    """Why a session holding `videos` and `chunks` cannot take `new_videos` more videos and
    `new_chunks` more passages (MAX_VIDEOS_PER_SESSION, MAX_CHUNKS_PER_SESSION); None if it
    can."""
    limit = settings.max_videos_per_session
    if new_videos and videos >= limit:
        return ItemFailed(
            "session_video_limit",
            f"this session already has {videos} videos (the limit is {limit})",
        )
    limit = settings.max_chunks_per_session
    if new_chunks and chunks + new_chunks > limit:
        return ItemFailed(
            "session_chunk_limit",
            f"this session holds {chunks} passages and this video has {new_chunks}; "
            f"the limit is {limit} (MAX_CHUNKS_PER_SESSION; remove a video first)",
        )
    return None


def _keep_session(uow: UnitOfWork, session_id: uuid.UUID) -> None:
    """First thing in a storing transaction: keep the session from being deleted while its
    video's rows are inserted (adds to the same session insert at the same time)."""
    if not uow.sessions.keep(session_id):
        raise SessionNotFound("the session ended while the video was being added")


def _claim_session(
    deps: Dependencies, uow: UnitOfWork, session_id: uuid.UUID, new_chunks: int
) -> None:
    """Last thing before linking a video: lock the session row (the checks and links of adds to
    one session run one at a time; the inserts before it do not wait) and check its limits
    against what is stored: one more video, and `new_chunks` more passages
    (MAX_CHUNKS_PER_SESSION)."""
    if not uow.sessions.lock_for_adding(session_id):
        raise SessionNotFound("the session ended while the video was being added")
    videos = uow.sessions.count_videos(session_id)
    chunks = uow.sessions.count_chunks(session_id) if new_chunks else 0
    refusal = _no_room(deps.settings, videos, chunks, 1, new_chunks)
    if refusal is not None:
        raise refusal


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
            part = embedder.embed_documents(texts)  # float32 rows
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
