"""pytest fixtures for testing resource servers that use jwks_client.

Installed as a ``pytest11`` plugin: the fixtures are available in any project that has
jwks-client installed, without imports.

- ``jwks_clock``: a :class:`~jwks_client.testing.FakeClock` shared by the issuer and the
  verifiers of a test, starting at the real current time (so the tokens it mints are
  valid for a verifier on the real clock too).
- ``jwks_issuer``: a running :class:`~jwks_client.testing.LocalIssuer` on 127.0.0.1
  (ES256 and RS256 keys), stopped after the test.
- ``jwks_token``: a factory, ``jwks_token(claims=None, **token_kwargs) -> str``, minting
  tokens with ``jwks_issuer`` (keyword arguments as :meth:`LocalIssuer.token`).
- ``jwks_verifier``: a :class:`~jwks_client.Verifier` for ``jwks_issuer`` (plain http
  allowed, audience ``https://api.example.com``, the fake clock), closed after the test.
- ``jwks_async_verifier``: the same as an :class:`~jwks_client.AsyncVerifier`, closed
  after the test. Defined only when pytest-asyncio is installed (it runs the fixture).
- ``jwks_dpop_key``: a client's :class:`~jwks_client.testing.DPoPKey` (ES256) on the fake
  clock: ``jwks_token(dpop_key=jwks_dpop_key)`` mints a token bound to it, and
  ``jwks_dpop_key.headers(method, url, token)`` makes a request's ``Authorization`` and
  ``DPoP`` fields. Indirect parametrization takes another algorithm
  (``parametrize("jwks_dpop_key", ["EdDSA"], indirect=True)``).

Markers configure the fixtures of one test (or, on a class or module, of many):

- ``@pytest.mark.jwks_issuer(**options)``: keyword arguments for
  :class:`~jwks_client.testing.LocalIssuer`, e.g. ``algorithms=["RS256"]``,
  ``path="/tenant"``, ``cache_control="no-cache"``. The clock defaults to ``jwks_clock``.
  Indirect parametrization (``parametrize("jwks_issuer", [{...}], indirect=True)``) takes
  the same options, which win over the marker's.
- ``@pytest.mark.jwks_verifier(**options)``: keyword arguments for both verifiers,
  overriding the defaults above, e.g. ``audience="api://orders"``, ``leeway=0``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import pytest

from ._errors import ConfigurationError
from ._sync import Verifier
from .testing import DPoPKey, FakeClock, LocalIssuer, reset_key_stores

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_ISSUER_ALGORITHMS",
    "TokenFactory",
    "jwks_clock",
    "jwks_dpop_key",
    "jwks_issuer",
    "jwks_token",
    "jwks_verifier",
    "pytest_configure",
]

#: The audience of the plugin's verifiers, and of the issuer's tokens by default.
DEFAULT_AUDIENCE = "https://api.example.com"
#: The keys ``jwks_issuer`` holds unless configured otherwise (the first signs).
DEFAULT_ISSUER_ALGORITHMS = ("ES256", "RS256")


class TokenFactory(Protocol):
    """The type of the ``jwks_token`` fixture."""

    def __call__(self, claims: Mapping[str, Any] | None = None, **token_kwargs: Any) -> str:
        """Mint a token with ``jwks_issuer`` (see :meth:`LocalIssuer.token`)."""
        ...


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers, so ``--strict-markers`` accepts them."""
    config.addinivalue_line(
        "markers",
        "jwks_issuer(**options): LocalIssuer options for the jwks_issuer fixture "
        "(e.g. algorithms=['RS256'], path='/tenant')",
    )
    config.addinivalue_line(
        "markers",
        "jwks_verifier(**options): Verifier/AsyncVerifier options for the jwks_verifier "
        "and jwks_async_verifier fixtures (e.g. audience='api://orders')",
    )


def _marker_options(request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    """The keyword arguments of the closest ``name`` marker (none: empty).

    Raises:
        ConfigurationError: the marker has positional arguments.
    """
    marker = request.node.get_closest_marker(name)
    if marker is None:
        return {}
    if marker.args:
        raise ConfigurationError(
            f"@pytest.mark.{name} takes keyword arguments only, got {marker.args!r}"
        )
    return dict(marker.kwargs)


def _issuer_options(request: pytest.FixtureRequest, clock: FakeClock) -> dict[str, Any]:
    options: dict[str, Any] = {"algorithms": DEFAULT_ISSUER_ALGORITHMS, "clock": clock}
    options.update(_marker_options(request, "jwks_issuer"))
    param = getattr(request, "param", None)
    if param is not None:
        if not isinstance(param, Mapping):
            raise ConfigurationError(
                f"an indirect jwks_issuer parameter must be a mapping of options, got {param!r}"
            )
        options.update(param)
    return options


def _verifier_options(
    request: pytest.FixtureRequest, issuer: LocalIssuer, clock: FakeClock
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "audience": DEFAULT_AUDIENCE,
        "require_https": False,
        "clock": clock,
    }
    options.update(_marker_options(request, "jwks_verifier"))
    options.setdefault("issuer", issuer.issuer)
    return options


@pytest.fixture
def jwks_clock() -> FakeClock:
    """A fake clock starting at the current time; advance it with ``jwks_clock.advance(s)``."""
    return FakeClock()


@pytest.fixture
def jwks_issuer(request: pytest.FixtureRequest, jwks_clock: FakeClock) -> Iterator[LocalIssuer]:
    """A real issuer on 127.0.0.1 with an ES256 and an RS256 key, driven by ``jwks_clock``.

    The process's shared key stores are forgotten first, so each test starts cold.

    ``@pytest.mark.jwks_issuer(**options)`` (or an indirect parameter) passes other
    :class:`LocalIssuer` options.

    Raises:
        ConfigurationError: an option LocalIssuer does not take, or a bad value.
    """
    options = _issuer_options(request, jwks_clock)
    # A new issuer may reuse an earlier one's port: start with no shared key store, so a
    # verifier on the real clock never meets the keys cached for that earlier issuer.
    reset_key_stores()
    try:
        issuer = LocalIssuer(**options)
    except TypeError as exc:
        raise ConfigurationError(f"invalid jwks_issuer options {sorted(options)}: {exc}") from exc
    with issuer:
        yield issuer


@pytest.fixture
def jwks_token(jwks_issuer: LocalIssuer) -> TokenFactory:
    """A factory minting tokens with ``jwks_issuer``: ``jwks_token({"sub": "alice"})``.

    Keyword arguments are those of :meth:`LocalIssuer.token` (``kid``, ``alg``,
    ``header``, ``expires_in``, ``audience``...).
    """

    def mint(claims: Mapping[str, Any] | None = None, **token_kwargs: Any) -> str:
        return jwks_issuer.token(claims, **token_kwargs)

    return mint


def _build(
    cls: type[Any], request: pytest.FixtureRequest, issuer: LocalIssuer, clock: FakeClock
) -> Any:
    options = _verifier_options(request, issuer, clock)
    try:
        return cls(options.pop("issuer"), **options)
    except TypeError as exc:
        raise ConfigurationError(f"invalid jwks_verifier options {sorted(options)}: {exc}") from exc


@pytest.fixture
def jwks_verifier(
    request: pytest.FixtureRequest, jwks_issuer: LocalIssuer, jwks_clock: FakeClock
) -> Iterator[Verifier]:
    """A Verifier for ``jwks_issuer`` (audience ``https://api.example.com``), closed after.

    ``@pytest.mark.jwks_verifier(**options)`` overrides or adds Verifier options.
    """
    verifier: Verifier = _build(Verifier, request, jwks_issuer, jwks_clock)
    with verifier:
        yield verifier


@pytest.fixture
def jwks_dpop_key(request: pytest.FixtureRequest, jwks_clock: FakeClock) -> DPoPKey:
    """A client's DPoP key (ES256; an indirect parameter names another algorithm).

    Its proofs are dated by ``jwks_clock``. ``jwks_token(dpop_key=jwks_dpop_key)`` mints
    a token bound to it; ``jwks_dpop_key.headers("GET", url, token)`` gives the request's
    ``Authorization: DPoP`` and ``DPoP`` fields; ``wrong_proof(fault, ...)`` a proof a
    verifier must refuse.

    Raises:
        ConfigurationError: the parameter is not a supported asymmetric algorithm.
    """
    alg = getattr(request, "param", None) or "ES256"
    if not isinstance(alg, str):
        raise ConfigurationError(
            f"an indirect jwks_dpop_key parameter must be an algorithm name, got {alg!r}"
        )
    return DPoPKey(alg, clock=jwks_clock)


# The async fixture needs pytest-asyncio to run it; a project without it still gets
# every other fixture.
if importlib.util.find_spec("pytest_asyncio") is not None:
    from collections.abc import AsyncIterator

    import pytest_asyncio

    from ._async import AsyncVerifier

    @pytest_asyncio.fixture(loop_scope="function")
    async def jwks_async_verifier(
        request: pytest.FixtureRequest, jwks_issuer: LocalIssuer, jwks_clock: FakeClock
    ) -> AsyncIterator[AsyncVerifier]:
        """An AsyncVerifier for ``jwks_issuer``, configured as ``jwks_verifier``, closed after."""
        verifier: AsyncVerifier = _build(AsyncVerifier, request, jwks_issuer, jwks_clock)
        async with verifier:
            yield verifier

    __all__ += ["jwks_async_verifier"]
