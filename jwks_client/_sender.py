"""The request side of a verifier: credentials, token binding, DPoP proofs, replays, nonces.

Theory of operation
-------------------
``verify_request`` is ``verify`` with three calls around it, the same in both shells:

1. :meth:`RequestChecker.credentials` reads the ``Authorization`` and ``DPoP`` fields
   (:mod:`._request`) and refuses a scheme the verifier does not accept.
2. Once the token is parsed, :meth:`RequestChecker.check` judges its binding and the
   proof (:mod:`._dpop`): the ``cnf`` the token claims against the scheme used and the
   client certificate, then the proof's header, key, claims and nonce, and last, once
   all of these hold, the proof's one signature. A bad request is refused before any
   cryptography. The token is verified next; its signature check follows the proof's
   directly, so the interpreter runs little between the two (a request needs both).
3. After the token verified, :meth:`RequestChecker.complete` records the proof in the
   replay store; a replay is refused. Nothing is recorded for a request that fails.

A client sends the same proof header with every proof it makes: a header segment seen
before is neither decoded nor judged again, and its key is imported once (the header and
its key are kept in a bounded map by the segment's exact text; a header whose key is
unusable is remembered too). Rejections are annotated (:meth:`RequestChecker.annotate`) with the
scheme used and what the verifier offers, which :func:`~._challenge.challenge_for` turns
into the ``WWW-Authenticate`` challenges.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _fork
from ._challenge import BEARER, DPOP
from ._dpop import (
    DPoP,
    Proof,
    check_certificate,
    check_proof,
    confirmation,
    make_nonce,
    parse_proof,
    proof_key,
    replay_key,
    token_hash,
    verify_proof_signature,
)
from ._dpop_options import dpop_option
from ._errors import (
    InvalidDPoPProofError,
    InvalidTokenBindingError,
    InvalidTokenError,
    JWKSClientError,
    MissingTokenError,
)
from ._keys import PreparedKey
from ._replay import ReplayStore, default_replay_store
from ._request import Credentials, read_credentials
from ._shared import DOWN, SharedProtocol, Write, ttl_ms
from ._token import ParsedToken, header_only
from ._types import Clock, keep

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = ["PROOF_HEADER_CACHE_SIZE", "TOKEN_HASH_CACHE_SIZE", "RequestChecker"]


def _replayed() -> InvalidDPoPProofError:
    return InvalidDPoPProofError("invalid DPoP proof: it was already used (a replay)")


#: Distinct proof headers kept with their parsed header and imported key.
PROOF_HEADER_CACHE_SIZE = 1024
#: Distinct access tokens kept with their hash (``ath``), and the longest kept.
TOKEN_HASH_CACHE_SIZE = 256
MAX_HASHED_TOKEN_CHARS = 4096


class RequestChecker:
    """Credentials, binding and proof checks of one verifier, with its replay store.

    Args:
        dpop: the DPoP configuration, or None when the verifier does not accept DPoP.
        clock: returns Unix seconds.

    Raises:
        ConfigurationError: ``dpop`` is neither a ``DPoP`` nor None.
    """

    def __init__(
        self, dpop: DPoP | None, clock: Clock, shared: SharedProtocol | None = None
    ) -> None:
        self.dpop = dpop = dpop_option(dpop)
        self._clock = clock
        self._bearer = dpop is None or not dpop.required
        self._advertised: tuple[str, ...] = () if dpop is None else dpop.advertised_algorithms
        self._algorithms: frozenset[str] = frozenset(self._advertised)
        self._secret = None if dpop is None else dpop.secret
        self._replay: ReplayStore | None = None
        if dpop is not None:
            # Not `or`: an empty store has a length of 0, and is falsy.
            store = dpop.replay_store
            self._replay = store if store is not None else default_replay_store()
        # With the fleet's shared cache (and no replay store of the user's own), accepted
        # proofs are also recorded fleet-wide, so a replay to another process is refused.
        self._fleet = shared if dpop is not None and dpop.replay_store is None else None
        self._fallbacks = 0
        self._fallback_lock = threading.Lock()
        _fork.track(self)
        # Proof header segment -> a proof parsed with it, and its key (or why it is unusable).
        self._headers: dict[str, tuple[ParsedToken, PreparedKey | str]] = {}
        # Access token -> its hash (a client sends one token with many proofs).
        self._hashes: dict[str, str] = {}

    def credentials(self, headers: object) -> Credentials:
        """Read the request's credentials; refuse a scheme this verifier does not accept.

        Raises:
            MissingTokenError: no credentials, another scheme, or DPoP when it is off.
            InvalidRequestError: a malformed or repeated ``Authorization`` or ``DPoP``.
        """
        credentials = read_credentials(headers)
        if credentials.scheme == DPOP and self.dpop is None:
            raise MissingTokenError("this resource does not accept the DPoP scheme")
        return credentials

    def check(
        self,
        credentials: Credentials,
        claims: Mapping[str, Any],
        method: str,
        url: str,
        client_cert: str | bytes | Certificate | None,
    ) -> Proof | None:
        """The checks of the binding and the proof, the proof's signature last.

        Args:
            credentials: from :meth:`credentials`.
            claims: the token's claims (parsed; verified after this call).
            method, url: the request's method and URL as the server sees them.
            client_cert: the TLS client certificate, if any.

        Returns:
            The verified proof to record with :meth:`complete`, or None for a bearer
            token.

        Raises:
            InvalidTokenBindingError, InvalidDPoPProofError, UseDPoPNonceError: see
                :mod:`._dpop`.
            TypeError: ``method`` or ``url`` is not a str.
        """
        if not isinstance(method, str) or not isinstance(url, str):
            raise TypeError("verify_request takes the method and the URL as str")
        jkt, x5t = confirmation(claims) if "cnf" in claims else (None, None)
        if x5t is not None:
            check_certificate(x5t, client_cert)
        if credentials.scheme == BEARER:
            if jkt is not None:
                raise InvalidTokenBindingError(
                    "the token is DPoP-bound (cnf.jkt) and was sent with the Bearer scheme: "
                    "send it with the DPoP scheme and a proof"
                )
            if not self._bearer:
                raise InvalidTokenBindingError(
                    "this resource requires DPoP-bound tokens (the DPoP scheme and a proof)"
                )
            return None
        dpop = self.dpop
        assert dpop is not None  # credentials() refused the DPoP scheme otherwise
        proof = credentials.proof
        if proof is None:
            raise InvalidDPoPProofError("the DPoP scheme needs a proof in the DPoP header")
        if jkt is None:
            raise InvalidTokenBindingError(
                "the token is not DPoP-bound (no cnf.jkt) and was sent with the DPoP scheme"
            )
        parsed, key = self._parse(proof)
        checked = check_proof(
            parsed,
            key,
            method=method,
            url=url,
            ath=self._hashes.get(credentials.token) or self._hash(credentials.token),
            jkt=jkt,
            now=self._clock(),
            dpop=dpop,
        )
        verify_proof_signature(checked)
        return checked

    def complete(self, proof: Proof | None) -> Write | None:
        """Record the proof (verified by :meth:`check`); refuse a replay.

        Returns:
            With a shared cache, the write that records the proof fleet-wide: the shell
            performs it and hands the answer to :meth:`settle`. Otherwise None.

        Raises:
            InvalidDPoPProofError: the proof was already used.
        """
        if proof is None:
            return None
        assert self._replay is not None
        key = replay_key(proof.key.thumbprint, proof.jti)
        now = self._clock()
        if not self._replay.first_use(key, proof.expires_at, now):
            raise _replayed()
        fleet = self._fleet
        if fleet is None:
            return None
        return Write(
            f"{fleet.namespace}:dpop:{key.hex()}",
            b"1",
            ttl_ms(proof.expires_at - now),
            only_if_absent=True,
        )

    def settle(self, answer: object) -> None:
        """Take the shared cache's answer to :meth:`complete`'s write.

        A proof another process already recorded is a replay. When the shared cache
        could not answer, the process's own record stands alone, and that is counted
        (``stats().dpop_replay_fallbacks``).

        Raises:
            InvalidDPoPProofError: the fleet has seen the proof.
        """
        if answer is DOWN:
            with self._fallback_lock:
                self._fallbacks += 1
            return
        if answer is not True:
            raise _replayed()

    def after_fork_in_child(self) -> None:
        """In a forked child: a fresh counter lock."""
        self._fallback_lock = threading.Lock()

    @property
    def replay_fallbacks(self) -> int:
        """Proofs recorded only in this process because the shared cache failed."""
        return self._fallbacks

    def annotate(self, error: JWKSClientError, credentials: Credentials | None) -> None:
        """Record on a rejection the scheme used and what this verifier accepts."""
        if not isinstance(error, InvalidTokenError):
            return
        if credentials is not None:
            error.scheme = credentials.scheme
        error.bearer_accepted = self._bearer
        error.dpop_algorithms = self._advertised

    def nonce(self) -> str | None:
        """The current DPoP nonce (None when nonces are off)."""
        if self._secret is None:
            return None
        assert self.dpop is not None
        return make_nonce(self._secret, self._clock(), self.dpop.max_age)

    def _hash(self, token: str) -> str:
        """The token's ``ath``, kept for the next proof with the same token (the caller
        looks in ``_hashes`` first; a plain dict: safe across threads)."""
        known = token_hash(token)
        if len(token) <= MAX_HASHED_TOKEN_CHARS:  # a longer one is not kept
            keep(self._hashes, token, known, TOKEN_HASH_CACHE_SIZE)
        return known

    def _parse(self, proof: str) -> tuple[ParsedToken, PreparedKey]:
        """The parsed proof and its key; a header seen before is not parsed or imported
        again."""
        header = proof.partition(".")[0]
        known = self._headers.get(header)  # a plain dict: safe across threads
        if known is None:
            parsed = parse_proof(proof, self._algorithms)
            key: PreparedKey | str
            try:
                key = proof_key(parsed.header["jwk"], parsed.alg)
            except InvalidDPoPProofError as exc:
                key = str(exc)  # remembered too: a bad key costs one import
            # The header alone is kept, not this proof's claims and signature.
            keep(self._headers, header, (header_only(parsed, header), key), PROOF_HEADER_CACHE_SIZE)
        else:
            parsed = parse_proof(proof, self._algorithms, known[0])
            key = known[1]
        if isinstance(key, str):
            raise InvalidDPoPProofError(key)
        return parsed, key
