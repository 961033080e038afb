"""A checksum value with a trailing line break is refused as the command arrives.

``^[0-9a-f]+$`` matches ``"<hex digits>\n"`` (``$`` matches before a final
newline), so an ``os_hash_value`` pasted with its line break (a value read
from a ``.sha256`` file) was accepted: the command started, and failed
asynchronously with "the expected value has 65 hex digits" for a digest of
64, after the disk had been made unbootable. It is now a 400 naming the
field, and nothing runs or is downloaded. (A legacy ``checksum`` with one
was already refused by its length.)
"""

import pytest

from tests.agent.helpers import sha


@pytest.mark.parametrize("field", ["checksum", "os_hash_value"])
def test_a_digest_with_a_line_break_is_refused_at_once(start_agent, image_server, raw_image,
                                                       field):
    path, data = raw_image
    url = image_server.add("nl.raw", path=str(path))
    info = {"id": "img-nl", "urls": [url], "disk_format": "raw", field: sha(data) + "\n"}
    if field == "os_hash_value":
        info["os_hash_algo"] = "sha256"
    agent = start_agent()
    status, body = agent.command("standby.prepare_image", {"image_info": info}, wait=False)
    assert status == 400, body
    assert field in body["faultstring"], body
    assert image_server.count("nl.raw") == 0
