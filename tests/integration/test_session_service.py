"""`service.sessions.authenticated`: the one way a use case gets the caller's session and its
unit of work."""

import pytest

from services.video_rag.bootstrap import Dependencies
from services.video_rag.domain.errors import SessionExpired, SessionNotFound, SessionRequired
from services.video_rag.service import sessions as service
from services.video_rag.settings import load_settings
from tests.conftest import FakeClock


@pytest.mark.parametrize(
    ("token", "error"), [(None, SessionRequired), ("", SessionRequired), ("bad", SessionNotFound)]
)
def test_a_missing_or_malformed_token_is_refused_before_the_database_is_touched(
    token: str | None, error: type[Exception]
) -> None:
    # No database is configured: opening a unit of work would raise DatabaseNotConfigured.
    deps = Dependencies(settings=load_settings({}))
    with pytest.raises(error), service.authenticated(deps, token):
        pytest.fail("the block must not run")


@pytest.mark.db
def test_it_renews_unless_told_not_to(deps: Dependencies, clock: FakeClock) -> None:
    info, _ = service.get_or_create_session(deps, None)
    clock.advance(minutes=10)
    with service.authenticated(deps, info.session_id, renew=False) as (_, session):
        assert session.expires_at == info.expires_at
    with service.authenticated(deps, info.session_id) as (uow, session):
        assert session.expires_at == info.expires_at + (clock() - info.created_at)
        assert uow.sessions.count_videos(session.id) == 0
    # The renewal was committed: the session now outlives its first expiry.
    clock.advance(minutes=10)
    assert service.describe_session(deps, info.session_id).session_id == info.session_id
    clock.advance(minutes=15)
    with pytest.raises(SessionExpired), service.authenticated(deps, info.session_id):
        pytest.fail("the block must not run")
    with pytest.raises(SessionNotFound), service.authenticated(deps, "A" * 43):
        pytest.fail("the block must not run")
