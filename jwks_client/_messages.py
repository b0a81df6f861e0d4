"""How values appear in the library's messages (pure).

Rules:

* A value taken from a token, a document, a header or an argument is shown as its
  ``repr``, at most :data:`SHOWN_CHARS` characters; a longer one is cut and ends in
  ``...``. URLs, issuers and a foreign error's text are allowed
  :data:`SHOWN_LONG_CHARS`; free text is cut the same way without the ``repr``. So a
  message stays small whatever the input, and never quotes a whole token.
* A list of values shows at most :data:`MAX_LISTED` of them, then ``...``.
* The kind of a decoded JSON value is named with its article: ``null``, ``a boolean``,
  ``a number``, ``a string``, ``an array``, ``an object``.
* :data:`MAX_INT_DIGITS` is the one cap on JSON integer literals, for tokens and for
  fetched documents alike; messages that refuse a longer literal quote it.

Nothing here raises, whatever the value.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "MAX_INT_DIGITS",
    "MAX_LISTED",
    "SHOWN_CHARS",
    "SHOWN_LONG_CHARS",
    "clipped",
    "json_kind",
    "listed",
    "shown",
]

#: The longest ``repr`` of a value quoted in a message, in characters.
SHOWN_CHARS: int = 60
#: The same for values worth reading whole when they are sane: URLs, issuers, a
#: foreign error's text.
SHOWN_LONG_CHARS: int = 200
#: The most values a message lists; more are summed up as ``...``.
MAX_LISTED: int = 5
#: Longest JSON integer literal accepted, in digits: the default limit of CPython's
#: ``int()``, enforced whatever the interpreter's setting so parsing stays linear.
MAX_INT_DIGITS: int = 4_300

_ELLIPSIS = "..."


def clipped(text: str, limit: int = SHOWN_CHARS) -> str:
    """Return ``text`` cut to at most ``limit`` characters, ending in ``...`` when cut.

    Args:
        text: the text to show.
        limit: the most characters returned (when cut, never fewer than the three of
            ``...``).
    """
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(_ELLIPSIS))] + _ELLIPSIS


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """Return the ``repr`` of ``value`` for a message, cut like :func:`clipped`.

    A long string is sliced before its ``repr`` is taken, so the cost does not grow
    with the input. A value whose ``repr`` cannot be built (nested too deeply, or an
    integer past the interpreter's digit limit) is described by its type instead.

    Args:
        value: any value.
        limit: the most characters returned.
    """
    if isinstance(value, (str, bytes)) and len(value) > limit:
        value = value[:limit]  # its repr is still longer than limit: clipped below
    try:
        text = repr(value)
    except RecursionError:
        text = f"<deeply nested {type(value).__name__}>"
    except ValueError:  # an int longer than the interpreter's str() digit limit
        text = f"<{type(value).__name__} too long to show>"
    return clipped(text, limit)


def listed(values: Iterable[object], most: int = MAX_LISTED) -> str:
    """Return the first ``most`` values, each :func:`shown`, joined by commas.

    A trailing ``...`` marks that there were more.

    Args:
        values: the values, in the order they are listed.
        most: the most values shown.
    """
    items: list[str] = []
    for value in values:
        if len(items) == most:
            items.append(_ELLIPSIS)
            break
        items.append(shown(value))
    return ", ".join(items)


def json_kind(value: object) -> str:
    """Name the JSON kind of a decoded value with its article ("a string", "null").

    A value that is not a JSON value is named by its Python type, with its article.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"
