"""Client IP behind a known number of proxies; forged X-Forwarded-For entries are ignored."""

from __future__ import annotations

from django.test import RequestFactory, override_settings

from config.client_ip import client_ip_from_request


def _request(remote: str, forwarded: str | None = None):  # type: ignore[no-untyped-def]
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@override_settings(TRUSTED_PROXY_COUNT=0)
def test_without_proxies_forwarded_header_is_ignored() -> None:
    assert client_ip_from_request(_request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_one_proxy_takes_the_address_it_appended() -> None:
    request = _request("10.0.0.2", "6.6.6.6, 198.51.100.7")
    assert client_ip_from_request(request) == "198.51.100.7"


@override_settings(TRUSTED_PROXY_COUNT=2)
def test_two_proxies_skip_the_inner_hop() -> None:
    request = _request("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.1")
    assert client_ip_from_request(request) == "198.51.100.7"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_garbage_forwarded_value_falls_back_to_remote_addr() -> None:
    assert client_ip_from_request(_request("10.0.0.2", "not-an-ip")) == "10.0.0.2"
    assert client_ip_from_request(_request("10.0.0.2", "")) == "10.0.0.2"
