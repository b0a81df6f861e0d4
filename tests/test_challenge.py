"""Answers to rejections (jwks_client.challenge_for): status, challenges, headers."""

from __future__ import annotations

import pytest

from jwks_client import (
    Challenge,
    ExpiredTokenError,
    FetchError,
    InvalidDPoPProofError,
    InvalidIssuerError,
    InvalidRequestError,
    InvalidSignatureError,
    InvalidTokenBindingError,
    InvalidTokenError,
    KeyNotFoundError,
    MissingTokenError,
    UseDPoPNonceError,
    challenge_for,
)

ALGS = ("ES256", "PS256")


def _from_request(
    error: InvalidTokenError,
    scheme: str | None,
    *,
    bearer: bool = True,
    algs: tuple[str, ...] = ALGS,
) -> InvalidTokenError:
    """An error annotated as verify_request annotates it."""
    error.scheme = scheme
    error.bearer_accepted = bearer
    error.dpop_algorithms = algs
    return error


def _www(answer: Challenge) -> str:
    return answer.header_dict()["WWW-Authenticate"]


def test_rejection_from_verify_is_a_bearer_answer() -> None:
    """Without request facts, the answer is RFC 6750's (as the integrations gave it)."""
    answer = challenge_for(ExpiredTokenError("token expired at X", claim="exp"), realm="api")
    assert answer == Challenge(
        401,
        "invalid_token",
        "token expired at X",
        (
            (
                "WWW-Authenticate",
                'Bearer realm="api", error="invalid_token", error_description="token expired at X"',
            ),
        ),
    )
    assert answer.body() == {"detail": "token expired at X"}


def test_no_credentials_offers_both_schemes_without_error() -> None:
    """RFC 9449 §7.2 figure 17: Bearer, DPoP algs=..., no error."""
    answer = challenge_for(_from_request(MissingTokenError("none"), None))
    assert (answer.status, answer.error) == (401, None)
    assert _www(answer) == 'Bearer, DPoP algs="ES256 PS256"'


def test_error_goes_to_the_scheme_used() -> None:
    """RFC 9449 §7.2 figure 18: the scheme used carries the error."""
    bearer = challenge_for(_from_request(InvalidSignatureError("bad sig"), "Bearer"))
    assert _www(bearer) == (
        'Bearer error="invalid_token", error_description="bad sig", DPoP algs="ES256 PS256"'
    )
    dpop = challenge_for(_from_request(InvalidTokenBindingError("wrong key"), "DPoP"), realm="r")
    assert _www(dpop) == (
        'Bearer realm="r", DPoP realm="r", error="invalid_token", '
        'error_description="wrong key", algs="ES256 PS256"'
    )


def test_ambiguous_request_puts_the_error_in_every_challenge() -> None:
    """RFC 9449 §7.2 figure 19: two Authorization fields, 400 in both challenges."""
    answer = challenge_for(_from_request(InvalidRequestError("two fields"), None))
    assert answer.status == 400
    assert _www(answer) == (
        'Bearer error="invalid_request", error_description="two fields", '
        'DPoP error="invalid_request", error_description="two fields", algs="ES256 PS256"'
    )


def test_dpop_required_offers_only_dpop() -> None:
    """Where plain bearer tokens are refused, only the DPoP challenge is offered, and a
    Bearer request's error goes to it."""
    answer = challenge_for(
        _from_request(InvalidTokenBindingError("requires DPoP"), "Bearer", bearer=False)
    )
    assert _www(answer) == (
        'DPoP error="invalid_token", error_description="requires DPoP", algs="ES256 PS256"'
    )


def test_dpop_off_offers_only_bearer() -> None:
    """A verifier with dpop=None offers only Bearer."""
    answer = challenge_for(_from_request(MissingTokenError("DPoP is off"), "DPoP", algs=()))
    assert _www(answer) == "Bearer"


def test_proof_errors_and_nonces() -> None:
    """invalid_dpop_proof; use_dpop_nonce with the DPoP-Nonce header (RFC 9449 §9)."""
    proof = challenge_for(_from_request(InvalidDPoPProofError("bad htu"), "DPoP"))
    assert (proof.status, proof.error) == (401, "invalid_dpop_proof")
    nonce = challenge_for(_from_request(UseDPoPNonceError("no nonce", nonce="n-1"), "DPoP"))
    assert (nonce.status, nonce.error) == (401, "use_dpop_nonce")
    assert nonce.headers[1] == ("DPoP-Nonce", "n-1")
    assert 'DPoP error="use_dpop_nonce"' in _www(nonce)


def test_unavailable_keys_are_a_503_without_challenge() -> None:
    """Keys that cannot be fetched: 503, Retry-After, a fixed description."""
    answer = challenge_for(FetchError("https://idp/jwks timed out", url="https://idp/jwks"))
    assert answer == Challenge(
        503,
        None,
        "the token signing keys are temporarily unavailable",
        (("Retry-After", "5"),),
    )


@pytest.mark.parametrize(
    ("error", "description"),
    [
        (KeyNotFoundError("no key in https://idp/jwks"), "no signing key of the issuer"),
        (InvalidIssuerError("not 'https://idp'", claim="iss"), "issuer is not accepted"),
        (InvalidTokenError("internal detail"), "the token is invalid"),
        (UseDPoPNonceError("x", nonce="n"), "must carry the nonce"),
        (MissingTokenError("the request has no Authorization"), "an access token is required"),
    ],
)
def test_server_side_facts_are_not_sent(error: InvalidTokenError, description: str) -> None:
    """Rejections whose messages may name the server's side get a fixed text."""
    assert description in challenge_for(error).description


def test_descriptions_are_sanitised() -> None:
    """Quotes, backslashes, control characters and URLs never reach the header."""
    error = InvalidDPoPProofError('htu "https://internal:8080/x"\\\n is wrong')
    answer = challenge_for(_from_request(error, "DPoP"))
    assert answer.description == "htu a URL is wrong"
    assert len(challenge_for(InvalidRequestError("x" * 500)).description) == 200


def test_realm_is_cleaned() -> None:
    """A realm's quotes and control characters are dropped."""
    answer = challenge_for(MissingTokenError("none"), realm='a"b\n')
    assert _www(answer) == 'Bearer realm="ab"'


def test_other_errors_are_a_type_error() -> None:
    """Only rejections and unavailable keys have an answer."""
    with pytest.raises(TypeError):
        challenge_for(ValueError("x"))  # type: ignore[arg-type]
