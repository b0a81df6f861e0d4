"""jwks-client: verify JWT access tokens against an issuer's JWKS."""

from __future__ import annotations
