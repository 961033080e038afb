"""The agent's reading of checksum files, as image stores publish them.

Resolved in-process with a stand-in fetcher: no server, no agent process.
"""

import pytest

from hwdrivers.agent import checksum
from hwdrivers.agent import errors
from tests.agent.helpers import sha

DATA = b"an image"
IMAGE_URL = "http://images.example/os/disk.raw"


def resolve(text, **info):
    image_info = {"id": "img-1", "urls": [IMAGE_URL], **info}
    return checksum.resolve(image_info, allow_md5=False, fetch=lambda _url: text)


def test_a_checksum_file_url_is_named_without_its_credentials():
    url = "http://mirror:S3CRET@images.example/os/SHA256SUMS?temp_url_sig=S1G"
    with pytest.raises(errors.ImageDownloadError) as raised:
        resolve("%s  other.raw\n" % sha(b"x"), checksum=url)
    details = raised.value.details
    assert "http://images.example/os/SHA256SUMS" in details and "disk.raw" in details
    assert "S3CRET" not in details and "mirror" not in details and "S1G" not in details
    found = resolve("%s  disk.raw\n" % sha(b"x", "sha512"), checksum=url)
    assert found.source == "http://images.example/os/SHA256SUMS"
