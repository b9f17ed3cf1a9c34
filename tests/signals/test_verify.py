"""MarketRaker signature verification: key loading forms and the signed-candidate rules."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from terminal.signals.verify import (
    KeyLoadError,
    MarketRakerVerifier,
    SignedForm,
    load_public_key,
    signed_candidates,
)

from .support import FIXTURES, INDICATOR, indicator, private_key, public_pem, sign


def _postman() -> list[tuple[str, bytes, str]]:
    items = json.loads((FIXTURES / "postman_collection.json").read_text())["item"]
    out = []
    for item in items:
        req = item["request"]
        sig = next(h["value"] for h in req["header"] if h["key"].lower() == "x-signature")
        out.append((item["name"], req["body"]["raw"].encode(), sig))
    return out


def test_fixture_requests_verify_with_the_published_key() -> None:
    verifier = MarketRakerVerifier.from_source(FIXTURES / "public_key.pem")
    results = {name: verifier.verify(body, sig, json.loads(body)) for name, body, sig in _postman()}
    assert len(results) == 9
    assert not results.pop("Invalid Indicator").ok
    # Pretty-printed object bodies: only the re-serialised envelope (form 2) verifies.
    assert {r.form for r in results.values()} == {SignedForm.ENVELOPE}
    assert all(r.ok for r in results.values())


def test_each_form_verifies_and_is_reported() -> None:
    verifier = MarketRakerVerifier.from_source(public_pem())
    data = indicator()
    live = json.dumps({"type": "indicator", "data": json.dumps(data)}).encode()
    assert verifier.verify(live, sign(live), json.loads(live)).form is SignedForm.RAW
    # Same live envelope, compact separators on the wire: form 1 re-serialises it.
    compact = json.dumps(json.loads(live), separators=(",", ":")).encode()
    assert verifier.verify(compact, sign(live), json.loads(compact)).form is SignedForm.ENVELOPE
    obj = json.dumps({"type": "indicator", "data": data}, indent=2).encode()
    assert verifier.verify(obj, sign(live), json.loads(obj)).form is SignedForm.ENVELOPE
    form3 = json.dumps(data).encode()
    for body in (live, obj):
        assert verifier.verify(body, sign(form3), json.loads(body)).form is SignedForm.DATA


def test_key_order_is_preserved_when_reserialising() -> None:
    verifier = MarketRakerVerifier.from_source(public_pem())
    data = dict(reversed(list(INDICATOR.items())))  # an unusual but legal field order
    signed = json.dumps({"type": "indicator", "data": json.dumps(data)}).encode()
    body = json.dumps({"type": "indicator", "data": data}, indent=1).encode()
    assert verifier.verify(body, sign(signed), json.loads(body)).ok
    sorted_sig = sign(json.dumps({"type": "indicator", "data": json.dumps(data, sort_keys=True)}).encode())
    assert not verifier.verify(body, sorted_sig, json.loads(body)).ok


def test_rejections_name_the_problem() -> None:
    verifier = MarketRakerVerifier.from_source(public_pem())
    body = json.dumps({"type": "indicator", "data": json.dumps(INDICATOR)}).encode()
    env = json.loads(body)
    assert verifier.verify(body, None, env).reason == "missing x-signature header"
    assert verifier.verify(body, "  ", env).reason == "missing x-signature header"
    assert verifier.verify(body, "not base64!!", env).reason == "x-signature is not valid base64"
    assert "expected 256" in verifier.verify(body, base64.b64encode(b"x" * 20).decode(), env).reason
    assert verifier.verify(body, sign(body, n=1), env).reason == "invalid signature"  # other key
    assert verifier.verify(body + b" ", sign(body + b"!"), env).reason == "invalid signature"
    # A digest-length salt is a different signature scheme: MarketRaker uses the maximum.
    short_salt = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    result = verifier.verify(body, sign(body, pss=short_salt), env)
    assert not result.ok and result.tried >= 2
    assert verifier.verifications >= 2 and verifier.mean_verify_us > 0


def test_candidates_are_unique_and_tolerate_junk() -> None:
    body = b'{"type": "indicator", "data": "not json"}'
    forms = [f for f, _ in signed_candidates(body, json.loads(body))]
    assert forms == [SignedForm.RAW]  # form 1 equals the raw body; form 3 impossible
    assert [f for f, _ in signed_candidates(b"[1,2]", [1, 2])] == [SignedForm.RAW]
    assert [f for f, _ in signed_candidates(b"{", None)] == [SignedForm.RAW]
    blobs = [b for _, b in signed_candidates(b'{"data": {"a": 1}}', {"data": {"a": 1}})]
    assert len(blobs) == len(set(blobs)) == 4  # raw, {data}, {type: null, data}, form 3


# ---------------------------------------------------------------------- key loading


def test_key_forms(tmp_path: Path) -> None:
    pem = public_pem()
    expected = private_key().public_key().public_numbers()
    path = tmp_path / "mr.pem"
    path.write_text(pem)
    one_line = pem.strip().replace("\n", "\\n")
    crlf = pem.replace("\n", "\r\n")
    quoted = f'"{one_line}"'
    spaced = pem.replace("\n", " ")
    for source in (pem, pem.encode(), path, str(path), one_line, crlf, quoted, spaced):
        assert load_public_key(source).public_numbers() == expected, source
    pkcs1 = (
        private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode()
    )
    assert load_public_key(pkcs1.replace("\n", "\\n")).public_numbers() == expected


def test_bad_keys_are_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="does not exist"):
        load_public_key(str(tmp_path / "missing.pem"))
    with pytest.raises(KeyLoadError, match="cannot read"):
        load_public_key(tmp_path / "missing.pem")
    with pytest.raises(KeyLoadError, match="no PEM block"):
        load_public_key("hello")
    with pytest.raises(KeyLoadError, match="not a valid PEM"):
        load_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
    secret_pem = private_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyLoadError, match="private key") as info:
        load_public_key(secret_pem)
    assert "MII" not in str(info.value)  # the key material is never echoed
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyLoadError, match="expected an RSA public key"):
        load_public_key(ec_pem)
    weak = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyLoadError, match="too weak"):
        load_public_key(weak)
