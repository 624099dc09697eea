"""The token rules of the contract: which bearer tokens let a caller in, and how the others
are refused (one generic 401, the reason in the server's log and never the token).

No servers: a /v1 request with a bad token is refused before anything is connected to, and
a good one gets past authentication to the router (an unknown path then answers 404).
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from settings import SettingsError, load_settings, require_secrets
from web import create_app
from web.auth import GENERIC_DETAIL, TokenRefused, decode_token

SECRET = secrets.token_urlsafe(48)
GUARDED = "/v1/bookings"  # refused at authentication: never reaches the database
PAST_AUTH = "/v1/no-such-thing"  # a caller let in gets the router's 404


def claims(**changes) -> dict:
    now = int(time.time())
    base = {"sub": "alice", "role": "client", "iat": now, "exp": now + 3600}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def hs256(secret: str = SECRET, **changes) -> str:
    return jwt.encode(claims(**changes), secret, algorithm="HS256")


def public_pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def hmac_signed(payload: dict, key: bytes) -> str:
    """An HS256 token signed by hand: PyJWT itself refuses to use a PEM as an HMAC key."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(payload).encode())
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


KEYS = {
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}


@pytest.fixture(scope="module")
def provider_keys() -> dict:
    return {alg: make() for alg, make in KEYS.items()}


def make_client(**settings):
    settings.setdefault("jwt_secret", SECRET)
    for budget in ("auth_failures", "submit", "poll", "read"):
        settings.setdefault(f"rate_limit_{budget}", "off")  # no Redis in unit tests
    return create_app(load_settings({}, **settings)).test_client()


@pytest.fixture(scope="module")
def client():
    return make_client()


def call(client, token: str | None, path: str = GUARDED):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.get(path, headers=headers)


def assert_refused(response) -> None:
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "unauthorized"
    assert body["detail"] == GENERIC_DETAIL


# -- what gets in ------------------------------------------------------------------------


def test_a_good_hs256_token_gets_past_authentication(client):
    assert call(client, hs256(), PAST_AUTH).status_code == 404


@pytest.mark.parametrize("sub", ["a", "alice.smith@example.org", "A-1_b", "x" * 64])
def test_a_client_id_of_letters_digits_and_dot_underscore_at_dash_is_accepted(sub):
    identity = decode_token(load_settings({}, jwt_secret=SECRET), hs256(sub=sub))
    assert (identity.sub, identity.role) == (sub, "client")


def test_a_token_issued_a_few_seconds_ahead_of_our_clock_is_accepted():
    now = time.time()
    token = hs256(iat=int(now) + 30, exp=int(now) + 3600)
    assert decode_token(load_settings({}, jwt_secret=SECRET), token, now=now).sub == "alice"


def test_a_token_living_exactly_the_cap_is_accepted():
    now = int(time.time())
    settings = load_settings({}, jwt_secret=SECRET, jwt_max_lifetime_seconds=600)
    assert decode_token(settings, hs256(iat=now, exp=now + 600)).sub == "alice"


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_a_token_signed_by_the_identity_provider_is_accepted_with_its_public_key(
    provider_keys, alg
):
    private = provider_keys[alg]
    client = make_client(jwt_secret="", jwt_public_key=public_pem(private))
    token = jwt.encode(claims(role="conductor"), private, algorithm=alg)
    assert call(client, token, PAST_AUTH).status_code == 404


def test_the_public_key_may_be_given_as_the_path_of_a_pem_file(provider_keys, tmp_path):
    pem = tmp_path / "idp.pem"
    pem.write_text(public_pem(provider_keys["ES256"]))
    settings = load_settings({"JWT_PUBLIC_KEY": str(pem)})
    require_secrets(settings)
    token = jwt.encode(claims(), provider_keys["ES256"], algorithm="ES256")
    assert decode_token(settings, token).sub == "alice"


def test_the_issuer_and_audience_are_accepted_when_they_match():
    settings = load_settings(
        {}, jwt_secret=SECRET, jwt_issuer="https://idp.example", jwt_audience="rail"
    )
    token = hs256(iss="https://idp.example", aud=["rail", "other"])
    assert decode_token(settings, token).sub == "alice"


# -- what is refused, always with the same answer -----------------------------------------


def bad_tokens() -> dict[str, str | None]:
    now = int(time.time())
    return {
        "missing header": None,
        "empty bearer": "",
        "garbage": "not.a.token",
        "no iat": hs256(iat=...),
        "no exp": hs256(exp=...),
        "no sub": hs256(sub=...),
        "no role": hs256(role=...),
        "unknown role": hs256(role="king"),
        "expired": hs256(iat=now - 7200, exp=now - 60),
        "lifetime over the cap": hs256(iat=now, exp=now + 86400 + 1),
        "iat in the future": hs256(iat=now + 300, exp=now + 900),
        "iat not a number": hs256(iat="yesterday"),
        "exp before iat": hs256(iat=now + 50, exp=now + 40),
        "sub too long": hs256(sub="x" * 65),
        "sub with a space": hs256(sub="alice smith"),
        "sub with a slash": hs256(sub="../alice"),
        "sub not a string": hs256(sub=42),
        "wrong secret": hs256(secrets.token_urlsafe(48)),
        "HS512": jwt.encode(claims(), SECRET, algorithm="HS512"),
        "alg none": jwt.encode(claims(), None, algorithm="none"),
        "alg none, no signature": jwt.encode(claims(), None, algorithm="none").rstrip("."),
        "huge": "a" * 9000,
    }


@pytest.mark.parametrize("kind", list(bad_tokens()))
def test_a_bad_token_is_refused_with_the_one_generic_answer(client, kind):
    assert_refused(call(client, bad_tokens()[kind]))


def test_the_answer_is_identical_whatever_the_reason(client):
    bodies = {kind: call(client, token).get_json() for kind, token in bad_tokens().items()}
    assert len({tuple(sorted(body.items())) for body in bodies.values()}) == 1, bodies


def test_a_header_that_is_not_bearer_is_refused(client):
    response = client.get(GUARDED, headers={"Authorization": f"Basic {hs256()}"})
    assert_refused(response)


def test_a_token_living_longer_than_the_cap_is_refused():
    now = int(time.time())
    client = make_client(jwt_max_lifetime_seconds=600)
    assert_refused(call(client, hs256(iat=now, exp=now + 601)))
    assert call(client, hs256(iat=now, exp=now + 600), PAST_AUTH).status_code == 404


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({}, "no iss or aud"),
        ({"iss": "https://evil.example", "aud": "rail"}, "wrong issuer"),
        ({"iss": "https://idp.example", "aud": "billing"}, "wrong audience"),
        ({"iss": "https://idp.example"}, "no audience"),
        ({"aud": "rail"}, "no issuer"),
    ],
)
def test_a_wrong_or_missing_issuer_or_audience_is_refused_when_they_are_set(changes, kind):
    client = make_client(jwt_issuer="https://idp.example", jwt_audience="rail")
    assert_refused(call(client, hs256(**changes)))


def test_an_hs256_token_is_refused_when_a_public_key_is_set(provider_keys):
    pem = public_pem(provider_keys["RS256"])
    client = make_client(jwt_public_key=pem)  # the secret is set too, and still refused
    assert_refused(call(client, hs256()))
    # The classic confusion: HS256 "signed" with the public key's PEM as the HMAC secret.
    assert_refused(call(client, hmac_signed(claims(role="operator"), pem.encode())))


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_only_the_algorithm_of_the_configured_key_is_accepted(provider_keys, alg):
    """With an Ed25519 key set, an RS256 token (however signed) is refused, and so on."""
    client = make_client(jwt_public_key=public_pem(provider_keys[alg]))
    for other in sorted(set(KEYS) - {alg}):
        token = jwt.encode(claims(), provider_keys[other], algorithm=other)
        assert_refused(call(client, token))


def test_a_token_signed_by_another_identity_provider_key_is_refused(provider_keys):
    client = make_client(jwt_public_key=public_pem(provider_keys["ES256"]))
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert_refused(call(client, jwt.encode(claims(), stranger, algorithm="ES256")))


# -- the reason is logged, the token is not -----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("no iat", "iat"),
        ("lifetime over the cap", "JWT_MAX_LIFETIME_SECONDS"),
        ("iat in the future", "iat is in the future"),
        ("wrong secret", "Signature verification failed"),
        ("alg none", "alg"),
        ("sub with a space", "sub"),
        ("expired", "expired"),
        ("missing header", "no Authorization header"),
    ],
)
def test_the_reason_is_logged_without_the_token(client, caplog, kind, reason):
    token = bad_tokens()[kind]
    with caplog.at_level(logging.INFO, logger="web.auth"):
        assert_refused(call(client, token))
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "web.auth")
    assert reason in logged
    assert GUARDED in logged
    if token:
        for part in token.split("."):
            if len(part) > 8:
                assert part not in logged


def test_the_refused_subject_is_not_echoed_to_the_caller_or_the_log(client, caplog):
    sub = "alice\nFAKE LOG LINE"
    with caplog.at_level(logging.INFO, logger="web.auth"):
        response = call(client, hs256(sub=sub))
    assert_refused(response)
    assert "FAKE LOG LINE" not in response.get_data(as_text=True)
    assert "FAKE LOG LINE" not in caplog.text


def test_decode_token_says_why_for_the_log():
    settings = load_settings({}, jwt_secret=SECRET, jwt_max_lifetime_seconds=60)
    with pytest.raises(TokenRefused, match="exceeds JWT_MAX_LIFETIME_SECONDS"):
        decode_token(settings, hs256())


# -- starting up: a secret, or a public key of a kind we can check ------------------------


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_with_a_public_key_set_no_jwt_secret_is_needed(provider_keys, alg):
    require_secrets(load_settings({"JWT_PUBLIC_KEY": public_pem(provider_keys[alg])}))


def test_a_pem_value_on_one_line_with_escaped_newlines_is_accepted(provider_keys):
    one_line = public_pem(provider_keys["EdDSA"]).replace("\n", "\\n")
    require_secrets(load_settings({"JWT_PUBLIC_KEY": one_line}))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ec.generate_private_key(ec.SECP384R1()), "RSA, EC P-256 or Ed25519"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "2048"),
    ],
    ids=["EC P-384", "RSA 1024"],
)
def test_a_public_key_of_another_kind_stops_the_api_from_starting(make, message):
    with pytest.raises(SettingsError, match=message):
        create_app(load_settings({"JWT_PUBLIC_KEY": public_pem(make())}))


@pytest.mark.parametrize(
    "value",
    ["/nonexistent/idp.pem", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----"],
    ids=["missing file", "not a key"],
)
def test_a_public_key_that_does_not_load_stops_the_api_from_starting(value):
    with pytest.raises(SettingsError, match="JWT_PUBLIC_KEY"):
        require_secrets(load_settings({"JWT_PUBLIC_KEY": value}))


def test_a_private_key_given_as_the_public_key_is_refused(provider_keys):
    pem = (
        provider_keys["EdDSA"]
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(SettingsError, match="JWT_PUBLIC_KEY") as refused:
        require_secrets(load_settings({"JWT_PUBLIC_KEY": pem}))
    assert pem.splitlines()[1] not in str(refused.value)  # the key is never in the message


def test_without_a_public_key_the_jwt_secret_is_still_required():
    with pytest.raises(SettingsError, match="JWT_SECRET is not set"):
        require_secrets(load_settings({}))


def test_a_lifetime_cap_below_one_second_stops_the_api_from_starting():
    with pytest.raises(SettingsError, match="JWT_MAX_LIFETIME_SECONDS"):
        require_secrets(load_settings({"JWT_SECRET": SECRET, "JWT_MAX_LIFETIME_SECONDS": "0"}))
