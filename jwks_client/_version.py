"""The library's version: the one place it is written.

The package metadata (``pyproject.toml``), ``jwks_client.__version__``, the
``User-Agent`` of every request and ``jwks-client --version`` all read it from here.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
