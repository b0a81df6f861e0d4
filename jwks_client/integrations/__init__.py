"""Web framework integrations: FastAPI/Starlette, Flask, Django REST framework.

Each framework has its own module, imported only by users of that framework
(``jwks_client.integrations.fastapi``, ``.starlette``, ``.flask``, ``.django``); install
the matching extra (``jwks-client[fastapi]``, ``[starlette]``, ``[flask]``, ``[django]``):
importing a module without its framework raises an ``ImportError`` naming the extra. This
package imports no framework: it re-exports the framework-free helpers the modules share, for
code that wires another framework the same way.

All integrations answer alike (RFC 6750), with a ``{"detail": "..."}`` JSON body:

- no ``Authorization`` field, or another scheme: 401,
  ``WWW-Authenticate: Bearer realm="api"`` (no ``error``);
- a malformed ``Bearer`` field: 400, ``error="invalid_request"``;
- a token the verifier rejects: 401, ``error="invalid_token"`` and a sanitised
  ``error_description`` that names nothing of the server's side (no JWKS URL, issuer or
  fetch failure: see :func:`public_description`);
- a valid token without a required scope: 403, ``error="insufficient_scope"``,
  ``scope="..."``;
- keys that cannot be obtained: 503, ``Retry-After: 5`` and a fixed description.
"""

from __future__ import annotations

from ._common import (
    DEFAULT_REALM,
    MAX_DESCRIPTION_LENGTH,
    RETRY_AFTER_SECONDS,
    BearerError,
    Challenge,
    InsufficientScopeError,
    InvalidRequestError,
    MissingTokenError,
    bearer_token,
    challenge_for,
    public_description,
    require_scopes,
    token_scopes,
    www_authenticate,
)

__all__ = [
    "DEFAULT_REALM",
    "MAX_DESCRIPTION_LENGTH",
    "RETRY_AFTER_SECONDS",
    "BearerError",
    "Challenge",
    "InsufficientScopeError",
    "InvalidRequestError",
    "MissingTokenError",
    "bearer_token",
    "challenge_for",
    "public_description",
    "require_scopes",
    "token_scopes",
    "www_authenticate",
]
