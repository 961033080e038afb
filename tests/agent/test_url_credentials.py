"""``user:password@`` in an image URL, as IPA (requests) accepts it.

The agent and the conductor's image check send it as Basic authentication
(urllib alone took it for part of the host name: "Name or service not
known"), only to the server the URL names, never to one it redirects to,
and never repeat it in a message.
"""

import pytest

from hwdrivers.agent import errors
from hwdrivers.agent import fetch
from hwdrivers.drivers.modules import image_check
from tests.agent import servers


@pytest.fixture
def images():
    with servers.ImageServer() as server:
        yield server


def _with_credentials(url, pair="img user:s3cr%40t"):
    return url.replace("http://", "http://%s@" % pair.replace(" ", "%20"))


def test_the_agent_sends_url_credentials_as_basic_auth(images):
    url = images.add("locked.img", data=b"payload", basic_auth="img user:s3cr@t")
    response = fetch.open_url(_with_credentials(url), fetch.HTTPOptions(timeout=10), "image")
    with response:
        assert response.read() == b"payload"
    with pytest.raises(errors.ImageDownloadError) as refused:
        fetch.open_url(_with_credentials(url, "img user:wrong"),
                       fetch.HTTPOptions(timeout=10), "image")
    assert "401" in str(refused.value) and "wrong" not in str(refused.value)


def test_credentials_never_follow_a_redirect(images):
    elsewhere = servers.ImageServer().start()
    try:
        target = elsewhere.add("moved.img", data=b"moved")
        url = images.add("old.img", redirect=target)
        with fetch.open_url(_with_credentials(url), fetch.HTTPOptions(timeout=10),
                            "image") as response:
            assert response.read() == b"moved"
        assert images.authorizations[-1].startswith("Basic ")
        assert elsewhere.authorizations == [None]
        assert image_check.refusal(_with_credentials(url), 10) is None
        assert elsewhere.authorizations == [None, None]
    finally:
        elsewhere.stop()


def test_the_conductor_check_uses_them_and_names_the_url_without_them(images):
    url = images.add("locked.img", data=b"payload", basic_auth="img user:s3cr@t")
    assert image_check.refusal(_with_credentials(url) + "?sig=t0ken", 10) is None
    why = image_check.refusal(_with_credentials(url, "img user:wrong") + "?sig=t0ken", 10)
    assert why is not None and "401" in why and url in why
    assert "wrong" not in why and "t0ken" not in why and "img user" not in why
    assert image_check.refusal(images.url + "/missing.img", 10).endswith("has no such file")
    assert image_check.refusal(images.url + "/missing.img", 0) is None  # check disabled


@pytest.mark.parametrize("url, shown", [
    ("http://u:p@[fd00::1]:8080/i.img?sig=t0ken#f", "http://[fd00::1]:8080/i.img"),
    ("https://[::1]/i.img", "https://[::1]/i.img"),
    ("http://user:pw@images.example:99999/i.img", "http://images.example/i.img"),
])
def test_agent_and_conductor_name_a_url_alike_without_secrets(url, shown):
    """One label for both sides: an IPv6 host keeps its brackets (it ran into its
    port: 'http://fd00::1:8080/...'), a port out of range does not raise."""
    assert fetch.redact(url) == shown
