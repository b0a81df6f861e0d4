"""Reading a request's Authorization and DPoP fields (jwks_client._request), pure."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from jwks_client import InvalidRequestError, MissingTokenError
from jwks_client._request import Credentials, read_credentials

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
PROOF = "eyJ0eXAiOiJkcG9wK2p3dCJ9.eyJqdGkiOiJ4In0.c2ln"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": f"Bearer {TOKEN}"}, Credentials("Bearer", TOKEN, None)),
        ({"authorization": f"bearer {TOKEN}"}, Credentials("Bearer", TOKEN, None)),
        ({"Authorization": f"DPoP {TOKEN}", "DPoP": PROOF}, Credentials("DPoP", TOKEN, PROOF)),
        ({"AUTHORIZATION": f"dpop {TOKEN}", "dpop": PROOF}, Credentials("DPoP", TOKEN, PROOF)),
        ({"Authorization": f"  Bearer {TOKEN}\t"}, Credentials("Bearer", TOKEN, None)),
        ({"Authorization": "Bearer abc~+/=="}, Credentials("Bearer", "abc~+/==", None)),
        (
            {"Authorization": f"Bearer {TOKEN}", "DPoP": f" {PROOF} "},
            Credentials("Bearer", TOKEN, PROOF),
        ),
    ],
)
def test_credentials_are_read(headers: dict[str, str], expected: Credentials) -> None:
    """Schemes and names match case-insensitively; whitespace around values is ignored."""
    assert read_credentials(headers) == expected


def test_every_header_shape_is_read() -> None:
    """Pairs, bytes pairs (ASGI), tuples of lists, and multi-dicts give the same result."""
    expected = Credentials("DPoP", TOKEN, PROOF)
    shapes: list[Any] = [
        [("Authorization", f"DPoP {TOKEN}"), ("DPoP", PROOF), ("Accept", "*/*")],
        [(b"authorization", f"DPoP {TOKEN}".encode()), (b"dpop", PROOF.encode())],
        (["Authorization", f"DPoP {TOKEN}"], ["DPoP", PROOF]),
        httpx.Headers([("Authorization", f"DPoP {TOKEN}"), ("DPoP", PROOF)]),
    ]
    for headers in shapes:
        assert read_credentials(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Accept": "*/*"},
        {"Authorization": ""},
        {"Authorization": "   "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearerx abc"},
        {"Authorization-Extra": f"Bearer {TOKEN}"},
    ],
)
def test_no_credentials(headers: dict[str, str]) -> None:
    """No Authorization, an empty one or another scheme: MissingTokenError."""
    with pytest.raises(MissingTokenError):
        read_credentials(headers)


@pytest.mark.parametrize(
    ("headers", "scheme", "message"),
    [
        ({"Authorization": "Bearer"}, "Bearer", "has no token"),
        ({"Authorization": "DPoP "}, "DPoP", "has no token"),
        ({"Authorization": f"Bearer  {TOKEN}"}, "Bearer", "exactly one space"),
        ({"Authorization": f"Bearer\t{TOKEN}"}, "Bearer", "exactly one space"),
        ({"Authorization": f"DPoP {TOKEN} {TOKEN}"}, "DPoP", "one token68"),
        ({"Authorization": "Bearer a=b"}, "Bearer", "one token68"),
        ({"Authorization": "Bearer ä"}, "Bearer", "one token68"),
        (
            [("Authorization", f"Bearer {TOKEN}"), ("authorization", f"DPoP {TOKEN}")],
            None,
            "more than one Authorization",
        ),
        ({"Authorization": f"DPoP {TOKEN}", "DPoP": ""}, "DPoP", "DPoP header is empty"),
        ({"Authorization": f"DPoP {TOKEN}", "DPoP": f"{PROOF},{PROOF}"}, "DPoP", "one proof"),
        ({"Authorization": f"DPoP {TOKEN}", "DPoP": f"{PROOF} {PROOF}"}, "DPoP", "one proof"),
        (
            [("Authorization", f"DPoP {TOKEN}"), ("DPoP", PROOF), ("dpop", PROOF)],
            "DPoP",
            "more than one DPoP",
        ),
    ],
)
def test_malformed_credentials(headers: Any, scheme: str | None, message: str) -> None:
    """Malformed or repeated fields are InvalidRequestError, naming the scheme when known."""
    with pytest.raises(InvalidRequestError, match=message) as caught:
        read_credentials(headers)
    assert caught.value.scheme == scheme


@pytest.mark.parametrize("headers", ["Authorization: Bearer x", [("a",)], [1, 2], {1: "x"}, 7])
def test_headers_of_another_shape_are_a_type_error(headers: Any) -> None:
    """Anything but a mapping or pairs of str/bytes is a TypeError (a programming error)."""
    with pytest.raises(TypeError):
        read_credentials(headers)
