"""Web framework integrations: FastAPI/Starlette, Flask, Django REST framework.

Each framework has its own module, imported only by users of that framework
(``jwks_client.integrations.fastapi``, ``.starlette``, ``.flask``, ``.django``); install
the matching extra (``jwks-client[fastapi]``, ``[starlette]``, ``[flask]``, ``[django]``):
importing a module without its framework raises an ``ImportError`` naming the extra. This
package imports no framework: it re-exports the framework-free helpers the modules share, for
code that wires another framework the same way.

Every integration hands the request to the verifier's ``verify_request``: the ``Bearer``
scheme, the ``DPoP`` scheme with its proof (RFC 9449), and certificate-bound tokens
(RFC 8705) with the TLS layer's client certificate (or, only from a trusted proxy, the
RFC 9440 ``Client-Cert`` header). All answer alike, with a ``{"detail": "..."}`` JSON
body; ``WWW-Authenticate`` lists the challenges of the schemes the verifier accepts
(``Bearer realm="api"``, ``DPoP realm="api", algs="..."``), the error in the one the
request used:

- no ``Authorization`` field, or another scheme: 401, the challenges without ``error``;
- a malformed ``Authorization`` or ``DPoP`` field: 400, ``error="invalid_request"``;
- a token the verifier rejects: 401, ``error="invalid_token"`` and a sanitised
  ``error_description`` that names nothing of the server's side (no JWKS URL, issuer or
  fetch failure: see :func:`public_description`);
- a DPoP proof it rejects: 401, ``error="invalid_dpop_proof"``, or
  ``error="use_dpop_nonce"`` with a ``DPoP-Nonce`` header;
- a valid token without a required scope: 403, ``error="insufficient_scope"``,
  ``scope="..."``;
- keys that cannot be obtained: 503, ``Retry-After: 5`` and a fixed description.

A successful answer to a DPoP-bound token carries the next ``DPoP-Nonce`` when the
verifier requires nonces (:func:`success_headers`).
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
    addressed_url,
    asgi_client_cert,
    bearer_token,
    challenge_for,
    header_client_cert,
    missing_challenge,
    public_description,
    require_scopes,
    success_headers,
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
    "addressed_url",
    "asgi_client_cert",
    "bearer_token",
    "challenge_for",
    "header_client_cert",
    "missing_challenge",
    "public_description",
    "require_scopes",
    "success_headers",
    "token_scopes",
    "www_authenticate",
]
