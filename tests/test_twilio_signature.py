"""The hand-written `X-Twilio-Signature` check agrees with Twilio's own RequestValidator
over a generated corpus: URLs (ports, paths, queries), forms (repeated names, unicode).
Each property tries the hypothesis profile's count of examples (`tests/conftest.py`)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator

from webhooks.common import SignatureError
from webhooks.twilio import check_signature, compute_signature

#: What an HTTP form can carry: any unicode that UTF-8 can encode (no lone surrogates).
TEXT = st.text(st.characters(codec="utf-8"), max_size=20)
SAFE = st.text("abcdefghijklmnopqrstuvwxyz0123456789-._~", min_size=1, max_size=12)
FORMS = st.lists(st.tuples(TEXT, TEXT), max_size=8)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https", "http"]))
    host = draw(st.sampled_from(["bot.example.org", "127.0.0.1", "example.org"]))
    port = draw(st.sampled_from(["", ":443", ":80", ":8443", ":8080"]))
    path = "/".join(draw(st.lists(SAFE, min_size=1, max_size=3)))
    query = draw(st.lists(st.tuples(SAFE, SAFE), max_size=3))
    tail = "?" + "&".join(f"{k}={v}" for k, v in query) if query else ""
    return f"{scheme}://{host}{port}/{path}{tail}"


def request_to(url: str, signature: str) -> tuple[web.Request, str]:
    """A request for `url` as it reaches the app behind a proxy (`PUBLIC_BASE_URL`)."""
    base, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    return make_mocked_request("POST", "/" + path, headers={"X-Twilio-Signature": signature}
                               ), f"{base}://{host}"


def accepted(url: str, form: list[tuple[str, str]], signature: str) -> bool:
    request, public_base = request_to(url, signature)
    try:
        check_signature(request, MultiDictProxy(MultiDict(form)), "tok", public_base)
    except SignatureError:
        return False
    return True


@given(url=urls(), form=FORMS)
def test_our_signature_is_the_validators(url: str, form: list[tuple[str, str]]) -> None:
    validator = RequestValidator("tok")
    assert compute_signature("tok", url, form) == validator.compute_signature(
        url, MultiDict(form))


@given(url=urls(), form=FORMS, with_port=st.booleans())
def test_we_accept_what_the_validator_accepts(url: str, form: list[tuple[str, str]],
                                              with_port: bool) -> None:
    validator = RequestValidator("tok")
    # Twilio signs the URL with or without its port (the validator tries both).
    variant = _with_port(url) if with_port else _without_port(url)
    signature = validator.compute_signature(variant, MultiDict(form))
    assert validator.validate(url, MultiDict(form), signature)
    assert accepted(url, form, signature)


@given(url=urls(), form=FORMS, extra=st.tuples(TEXT, TEXT))
def test_we_refuse_what_the_validator_refuses(url: str, form: list[tuple[str, str]],
                                              extra: tuple[str, str]) -> None:
    validator = RequestValidator("tok")
    signature = validator.compute_signature(url, MultiDict(form))
    tampered = [*form, extra]
    if validator.validate(url, MultiDict(tampered), signature):
        return  # the extra pair was already in the form: the same signed text
    assert not accepted(url, tampered, signature)
    assert not accepted(url, form, validator.compute_signature(url + "x", MultiDict(form)))


def _without_port(url: str) -> str:
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host.split(':')[0]}{slash}{path}"


def _with_port(url: str) -> str:
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if ":" not in host:
        host += ":443" if scheme == "https" else ":80"
    return f"{scheme}://{host}{slash}{path}"
