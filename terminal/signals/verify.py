"""MarketRaker signature verification (MARKETRAKER.md, "Signature").

RSA-PSS with MGF1(SHA-256), SHA-256, salt length = maximum, signature base64 in ``x-signature``.
What was signed is not always the raw body: the reference integration re-serialises the
envelope, so several candidate byte strings are tried (see ``signed_candidates``) and the
request is authentic if any one verifies.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "KeyLoadError",
    "MarketRakerVerifier",
    "SignedForm",
    "VerifyResult",
    "load_public_key",
    "signed_candidates",
]

_PEM_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


class KeyLoadError(ValueError):
    """The verification key cannot be used; the message says why (never the key itself)."""


class SignedForm(StrEnum):
    """Which byte string the signature matched."""

    RAW = "raw"  # the body exactly as received
    ENVELOPE = "envelope"  # forms 1/2: the envelope re-serialised, ``data`` as a JSON string
    DATA = "data"  # form 3: ``json.dumps(data_object)`` alone


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    reason: str  # empty when ok; else what to answer with the 401
    form: SignedForm | None = None
    tried: int = 0  # how many candidates were checked


# ---------------------------------------------------------------------- key loading


def _normalise_pem(text: str) -> bytes:
    """PEM text as users paste it: one line with literal ``\\n``, quotes around it, CRLF,
    spaces instead of newlines. Re-wrapped to canonical PEM."""
    text = text.strip().strip("'\"").replace("\\r", "").replace("\\n", "\n")
    match = _PEM_RE.search(text)
    if match is None:
        raise KeyLoadError("no PEM block (-----BEGIN PUBLIC KEY----- ... -----END PUBLIC KEY-----) found")
    label = match.group(1)
    if "PRIVATE" in label:
        # Never keep or echo it: the user pasted the wrong half of a key pair.
        raise KeyLoadError("that is a private key; paste MarketRaker's public verification key")
    b64 = re.sub(r"\s+", "", match.group(2))
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n").encode()


def load_public_key(source: str | Path | bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key from a PEM file (``Path``, or a ``str`` naming an existing
    file), PEM text/bytes, or PEM text on one line with literal ``\\n``."""
    if isinstance(source, Path) or (
        isinstance(source, str) and "-----BEGIN" not in source and _is_file(source)
    ):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise KeyLoadError(f"cannot read verification key file {path}: {exc.strerror or exc}") from None
    elif isinstance(source, bytes):
        text = source.decode("utf-8", errors="replace")
    elif isinstance(source, str):
        if "-----BEGIN" not in source and _looks_like_path(source.strip()):
            raise KeyLoadError(f"verification key file {source.strip()} does not exist")
        text = source
    else:
        raise KeyLoadError(f"verification key: expected PEM text or a file path, got {type(source).__name__}")
    pem = _normalise_pem(text)
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"not a valid PEM public key ({type(exc).__name__})") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyLoadError(f"expected an RSA public key, got {type(key).__name__}")
    if key.key_size < 2048:
        raise KeyLoadError(f"RSA key of {key.key_size} bits is too weak (at least 2048 expected)")
    return key


def _looks_like_path(text: str) -> bool:
    return not any(c.isspace() for c in text) and (text.startswith(("/", "~", ".")) or text.endswith(".pem"))


def _is_file(text: str) -> bool:
    try:
        return "\n" not in text and len(text) < 4096 and Path(text).expanduser().is_file()
    except OSError:
        return False


# ---------------------------------------------------------------------- candidates


def _dumps(value: Any) -> bytes:
    # Python's defaults on purpose: ", " / ": " separators, ASCII escaping, no key sorting -
    # exactly what the reference integration signs.
    return json.dumps(value).encode()


def signed_candidates(body: bytes, envelope: Any) -> Iterator[tuple[SignedForm, bytes]]:
    """The byte strings MarketRaker may have signed, most likely first, without repeats.

    ``envelope`` is the body parsed with an order-preserving decoder (``json.loads``), or
    None when the body is not JSON (then only the raw bytes can have been signed).
    """
    seen: set[bytes] = set()

    def fresh(blob: bytes) -> bool:
        if blob in seen:
            return False
        seen.add(blob)
        return True

    yield SignedForm.RAW, body
    seen.add(body)
    if not isinstance(envelope, dict) or "data" not in envelope:
        return
    data = envelope["data"]
    try:
        if isinstance(data, str):
            # Form 1: live deliveries, data already a JSON string.
            blob = _dumps(envelope)
            if fresh(blob):
                yield SignedForm.ENVELOPE, blob
            data_obj = json.loads(data)
        else:
            # Form 2: data as an object is signed as if it had been a string. The reference
            # builds {"type": ..., "data": ...} afresh; keeping the received keys covers
            # envelopes with extra fields.
            as_string = json.dumps(data)
            for candidate in (
                {**envelope, "data": as_string},
                {"type": envelope.get("type"), "data": as_string},
            ):
                blob = _dumps(candidate)
                if fresh(blob):
                    yield SignedForm.ENVELOPE, blob
            data_obj = data
        blob = _dumps(data_obj)  # form 3
        if fresh(blob):
            yield SignedForm.DATA, blob
    except (ValueError, TypeError, RecursionError):
        return  # data is not re-serialisable JSON: only what was yielded can match


# ---------------------------------------------------------------------- the verifier


class MarketRakerVerifier:
    """Holds the loaded key (parsed once) and checks requests; keeps timing figures."""

    def __init__(self, key: rsa.RSAPublicKey) -> None:
        self._key = key
        # The exact maximum (222 bytes for RSA-2048), not PSS.MAX_LENGTH: for verification
        # cryptography treats MAX_LENGTH as "any salt length", and MarketRaker's scheme is
        # the maximum only.
        salt = padding.calculate_max_pss_salt_length(key, hashes.SHA256())
        self._pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt)
        self._sig_len = (key.key_size + 7) // 8
        self.verifications = 0  # RSA operations performed
        self.verify_ns = 0  # their total cost

    @classmethod
    def from_source(cls, source: str | Path | bytes) -> MarketRakerVerifier:
        return cls(load_public_key(source))

    @property
    def key_size(self) -> int:
        return self._key.key_size

    @property
    def mean_verify_us(self) -> float:
        return self.verify_ns / self.verifications / 1000 if self.verifications else 0.0

    def decode_signature(self, header: str | None) -> bytes | str:
        """The raw signature bytes, or the reason it is unusable."""
        if header is None or not header.strip():
            return "missing x-signature header"
        text = header.strip()
        try:
            sig = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return "x-signature is not valid base64"
        if len(sig) != self._sig_len:
            return f"x-signature has {len(sig)} bytes, expected {self._sig_len}"
        return sig

    def verify_bytes(self, signature: bytes, message: bytes) -> bool:
        t0 = time.perf_counter_ns()
        try:
            self._key.verify(signature, message, self._pss, hashes.SHA256())
            return True
        except InvalidSignature:
            return False
        finally:
            self.verifications += 1
            self.verify_ns += time.perf_counter_ns() - t0

    def verify(self, body: bytes, header: str | None, envelope: Any) -> VerifyResult:
        """Check ``header`` (base64) against the raw body and its re-serialised forms."""
        sig = self.decode_signature(header)
        if isinstance(sig, str):
            return VerifyResult(False, sig)
        tried = 0
        for form, message in signed_candidates(body, envelope):
            tried += 1
            if self.verify_bytes(sig, message):
                return VerifyResult(True, "", form, tried)
        return VerifyResult(False, "invalid signature", None, tried)
