"""The REST client reads the proxy and CA-bundle variables once, when it is built (requests
would read them on every request), and still uses them."""

import requests

from extensions import TWILIO_API, read_environment_once


def settings_for(session: requests.Session, url: str) -> dict:
    return session.merge_environment_settings(url, {}, None, None, None)


def test_a_proxy_and_a_ca_bundle_set_in_the_environment_are_kept(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.hospital.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/hospital/ca.pem")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = requests.Session()
    read_environment_once(session, TWILIO_API)
    monkeypatch.delenv("HTTPS_PROXY")  # read once: later changes are not seen
    found = settings_for(session, TWILIO_API + "/2010-04-01/Accounts/AC1/Calls.json")
    assert found["proxies"]["https"] == "http://proxy.hospital.example:3128"
    assert found["verify"] == "/etc/hospital/ca.pem"


def test_no_proxy_for_the_host_is_honoured(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.hospital.example:3128")
    monkeypatch.setenv("NO_PROXY", "api.twilio.com")
    session = requests.Session()
    read_environment_once(session, TWILIO_API)
    assert settings_for(session, TWILIO_API + "/2010-04-01/Accounts/AC1/Calls.json")["proxies"] == {}


def test_the_hotlines_client_is_built_so(monkeypatch, app):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.hospital.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = app.extensions["hotline"].twilio.http_client.session
    assert session.trust_env is False and session.proxies["https"] == "http://proxy.hospital.example:3128"
