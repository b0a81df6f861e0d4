"""A self-signed client certificate for tests of certificate-bound tokens (RFC 8705).

The thumbprint is computed here from the DER encoding (SHA-256, base64url), not by the
verifier's code, so a test of the binding does not check the verifier against itself.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import time
from collections.abc import Callable
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .._errors import ConfigurationError
from ._common import b64url

__all__ = ["ClientCertificate", "thumbprint_of"]

#: How long a test certificate is valid, from an hour before its creation.
_VALIDITY: Final = datetime.timedelta(days=30)


class ClientCertificate:
    """A self-signed TLS client certificate (EC P-256) and its RFC 8705 thumbprint.

    ``LocalIssuer.token(client_cert=cert)`` mints a token bound to it; give
    :attr:`pem` (or :attr:`der`, or :attr:`certificate`) as ``verify_request``'s
    ``client_cert``, or put it where a server puts the TLS layer's certificate (ASGI's
    ``tls`` extension, WSGI's ``SSL_CLIENT_CERT``), or send :attr:`header_value` as the
    RFC 9440 ``Client-Cert`` header a trusted proxy sets.

    Args:
        common_name: the subject's (and issuer's) common name.
        clock: the time the certificate is made at (its validity starts an hour
            before); a :class:`FakeClock` fits.
    """

    def __init__(
        self, common_name: str = "client", *, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        start = datetime.datetime.fromtimestamp(clock(), datetime.timezone.utc)
        start -= datetime.timedelta(hours=1)
        self._certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + _VALIDITY)
            .sign(self._key, hashes.SHA256())
        )
        self._der = self._certificate.public_bytes(serialization.Encoding.DER)

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate as a ``cryptography`` object."""
        return self._certificate

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        """The certificate's private key."""
        return self._key

    @property
    def der(self) -> bytes:
        """The certificate's DER encoding."""
        return self._der

    @property
    def pem(self) -> str:
        """The certificate as PEM text (what ASGI's ``tls`` extension and WSGI's
        ``SSL_CLIENT_CERT`` carry)."""
        return self._certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def thumbprint(self) -> str:
        """The RFC 8705 thumbprint: base64url SHA-256 of the DER encoding."""
        return b64url(hashlib.sha256(self._der).digest())

    @property
    def cnf(self) -> dict[str, str]:
        """The ``cnf`` claim of a token bound to this certificate."""
        return {"x5t#S256": self.thumbprint}

    @property
    def header_value(self) -> str:
        """The RFC 9440 ``Client-Cert`` field value: ``:base64(DER):``."""
        return ":" + base64.b64encode(self._der).decode("ascii") + ":"

    def __repr__(self) -> str:
        return f"ClientCertificate(thumbprint={self.thumbprint!r})"


def thumbprint_of(cert: ClientCertificate | x509.Certificate | str | bytes) -> str:
    """The RFC 8705 thumbprint of a certificate: a :class:`ClientCertificate`, a
    ``cryptography`` certificate, PEM text or bytes, or DER bytes.

    Raises:
        ConfigurationError: the value is not a certificate in one of these forms.
    """
    if isinstance(cert, ClientCertificate):
        return cert.thumbprint
    try:
        if isinstance(cert, str):
            cert = x509.load_pem_x509_certificate(cert.encode("ascii"))
        elif isinstance(cert, bytes):
            if cert.lstrip().startswith(b"-----BEGIN"):
                cert = x509.load_pem_x509_certificate(cert)
            else:
                cert = x509.load_der_x509_certificate(cert)
        der = cert.public_bytes(serialization.Encoding.DER)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"not a certificate (PEM, DER or x509): {exc}") from exc
    return b64url(hashlib.sha256(der).digest())
