"""Scopes split on the ASCII space only (issue 10, item 9; RFC 6749 §3.3).

``str.split()`` also splits on Unicode whitespace (no-break space, line and paragraph
separators, ...), so one issued scope ``tx:42<U+00A0>admin`` used to grant ``admin``.
"""

from __future__ import annotations

import pytest

from jwks_client.integrations import InsufficientScopeError, require_scopes, token_scopes

SEPARATORS = ["\u00a0", "\u2028", "\u2029", "\u3000", "\u1680", "\u0085", "\t", "\n", "\x0b"]


@pytest.mark.parametrize("separator", SEPARATORS, ids=lambda s: f"U+{ord(s):04X}")
@pytest.mark.parametrize("claim", ["scope", "scp"])
def test_only_the_ascii_space_separates_scopes(claim: str, separator: str) -> None:
    """Any whitespace but the ASCII space is part of a scope: it grants nothing more."""
    claims = {claim: f"read tx:42{separator}admin"}
    assert token_scopes(claims) == {"read", f"tx:42{separator}admin"}
    with pytest.raises(InsufficientScopeError) as caught:
        require_scopes(claims, ("read", "admin"))
    assert caught.value.missing == ("admin",)


def test_repeated_and_edge_spaces_are_ignored() -> None:
    """Runs of ASCII spaces and spaces at the ends separate without making empty scopes."""
    assert token_scopes({"scope": "  read   write "}) == {"read", "write"}
