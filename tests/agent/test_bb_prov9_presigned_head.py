"""The conductor's look at an image before a deploy accepts a URL signed for GET only.

A presigned S3 URL (AWS, MinIO, Ceph RGW, R2) carries a signature of its
method: ``HEAD`` on a URL signed for ``GET`` is a 403, while the agent's
``GET`` is served. The conductor's ``HEAD`` check took the 403 for "the
image server refuses access" and failed every such deploy before the
machine was touched. A refusal is now confirmed with a one-byte ``GET``.
"""

from hwdrivers.drivers.modules import image_check
from tests.agent import servers

DATA = b"\x00" * 4096


def test_a_url_refusing_head_but_serving_get_passes():
    with servers.ImageServer() as images:
        url = images.add("signed.raw", data=DATA, head_status=403)
        assert image_check.refusal(url + "?X-Amz-Signature=abc", 5) is None
        assert images.count("signed.raw") == 1  # one GET, to confirm


def test_a_refusal_of_get_too_still_fails_the_deploy_naming_it():
    with servers.ImageServer() as images:
        url = images.add("expired.raw", data=DATA, status=403)
        why = image_check.refusal(url + "?X-Amz-Signature=s3cret", 5)
        assert why is not None and why.endswith("refuses access"), why
        assert "HEAD and GET" in why and "s3cret" not in why
        assert image_check.refusal(images.url + "/missing.raw", 5).endswith(
            "has no such file")


def test_an_image_served_to_head_costs_no_get():
    with servers.ImageServer() as images:
        url = images.add("plain.raw", data=DATA)
        assert image_check.refusal(url, 5) is None
        assert images.count("plain.raw") == 0
