"""Values and checks shared by the parts of the test issuer: sentinels, JSON, base64url."""

from __future__ import annotations

import base64
import enum
import json
import math
from collections.abc import Mapping
from typing import Any, Final

from .._errors import ConfigurationError

__all__ = [
    "OMIT",
    "UNSET",
    "Omit",
    "Unset",
    "b64url",
    "check_finite",
    "check_header_text",
    "json_bytes",
    "merge",
]


class Omit(enum.Enum):
    """Type of the :data:`OMIT` sentinel."""

    OMIT = "OMIT"

    def __repr__(self) -> str:
        return "OMIT"


#: Give this as a value in ``claims``, ``header``, ``jwk_extra`` or ``discovery_extra`` to
#: remove that member instead of setting it.
OMIT: Final = Omit.OMIT


class Unset(enum.Enum):
    """Type of the :data:`UNSET` sentinel: "keep the current value" in a setter."""

    UNSET = "UNSET"


UNSET: Final = Unset.UNSET


def b64url(data: bytes) -> str:
    """Encode ``data`` as unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_bytes(value: Any) -> bytes:
    """Serialise ``value`` as compact UTF-8 JSON.

    Raises:
        ConfigurationError: if ``value`` is not JSON-serialisable.
    """
    try:
        return json.dumps(value, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"value is not JSON-serialisable: {exc}") from exc


def merge(base: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``base`` updated with ``extra``, where an :data:`OMIT` value deletes a member."""
    merged = dict(base)
    for name, value in (extra or {}).items():
        if value is OMIT:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def check_finite(name: str, value: float) -> float:
    """Return ``value`` as a float.

    Raises:
        ConfigurationError: if it is a bool, not a number, or not finite.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_header_text(name: str, value: str) -> None:
    """Refuse a header name or value that would split the response (a line break).

    Raises:
        ConfigurationError: if ``value`` contains CR or LF.
    """
    if "\r" in value or "\n" in value:
        raise ConfigurationError(f"{name} must not contain line breaks: {value!r}")
