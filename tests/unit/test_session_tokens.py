from services.video_rag.domain.sessions import (
    hash_token,
    is_well_formed_token,
    new_session_token,
)


def test_tokens_carry_256_random_bits_and_never_repeat() -> None:
    tokens = {new_session_token() for _ in range(2000)}
    assert len(tokens) == 2000
    for token in list(tokens)[:50]:
        assert len(token) == 43  # 32 bytes, URL-safe base64 without padding
        assert is_well_formed_token(token)


def test_only_the_hash_is_derived_and_it_is_stable() -> None:
    token = new_session_token()
    assert hash_token(token) == hash_token(token)
    assert len(hash_token(token)) == 32
    assert hash_token(token) != hash_token(new_session_token())


def test_malformed_tokens_are_recognised_without_a_lookup() -> None:
    assert not is_well_formed_token("")
    assert not is_well_formed_token("x" * 42)
    assert not is_well_formed_token("x" * 44)
    assert not is_well_formed_token("' OR 1=1 --" + "x" * 32)
    assert not is_well_formed_token("é" * 43)
