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
    return checksum.resolve(image_info, allow_md5=False, fetch=lambda _url: text.splitlines())


def test_a_checksum_file_url_is_named_without_its_credentials():
    url = "http://mirror:S3CRET@images.example/os/SHA256SUMS?temp_url_sig=S1G"
    with pytest.raises(errors.ImageDownloadError) as raised:
        resolve("%s  other.raw\n" % sha(b"x"), checksum=url)
    details = raised.value.details
    assert "http://images.example/os/SHA256SUMS" in details and "disk.raw" in details
    assert "S3CRET" not in details and "mirror" not in details and "S1G" not in details
    found = resolve("%s  disk.raw\n" % sha(b"x", "sha512"), checksum=url)
    assert found.source == "http://images.example/os/SHA256SUMS"


def test_a_file_listing_the_image_under_several_algorithms_serves_each():
    """Fedora-style CHECKSUM files may give SHA512 and SHA256 lines for one image."""
    text = ("SHA512 (disk.raw) = %s\nSHA256 (disk.raw) = %s\n"
            % (sha(DATA, "sha512"), sha(DATA)))
    for algo in ("sha256", "sha512"):
        found = resolve(text, os_hash_algo=algo, os_hash_value="http://images.example/SUMS")
        assert (found.algorithm, found.value) == (algo, sha(DATA, algo))


def test_a_byte_order_mark_does_not_hide_the_first_line():
    """Files written by Windows tools start with a UTF-8 BOM."""
    found = resolve("\ufeff%s *disk.raw\r\n%s *other.raw\r\n" % (sha(DATA), sha(b"x")),
                    checksum="http://images.example/SUMS")
    assert found.value == sha(DATA)


def test_a_namesake_in_another_directory_is_not_taken_for_the_image():
    """One SHA256SUMS for a tree of releases names disk.raw once per directory."""
    text = "%s  2024-01/disk.raw\n%s  ./os/disk.raw\n" % (sha(b"old"), sha(DATA))
    found = resolve(text, checksum="http://images.example/SHA256SUMS")
    assert found.value == sha(DATA)
    text = "%s  2024-01/disk.raw\n%s  2024-02/disk.raw\n" % (sha(b"old"), sha(DATA))
    with pytest.raises(errors.ImageDownloadError, match="has no line for disk.raw"):
        resolve(text, checksum="http://images.example/SHA256SUMS")
    # one line, in whatever directory it was generated: still the image's
    found = resolve("%s  build/disk.raw\n" % sha(DATA), checksum="http://images.example/S")
    assert found.value == sha(DATA)


def test_a_percent_encoded_image_url_matches_the_listed_name():
    info = {"id": "img-1", "urls": ["http://images.example/os/web%20server.raw"],
            "checksum": "http://images.example/os/SHA256SUMS"}
    text = "%s  other.raw\n%s  web server.raw\n" % (sha(b"x"), sha(DATA))
    found = checksum.resolve(info, allow_md5=False, fetch=lambda _url: text.splitlines())
    assert found.value == sha(DATA)


def test_os_hash_algo_in_capitals_is_accepted():
    """What Ironic passes through when the operator typed it so."""
    info = {"id": "img-1", "urls": [IMAGE_URL], "os_hash_algo": "SHA512",
            "os_hash_value": sha(DATA, "sha512")}
    checksum.validate(info, allow_md5=False)
    found = checksum.resolve(info, allow_md5=False, fetch=lambda _url: [])
    assert (found.algorithm, found.value) == ("sha512", sha(DATA, "sha512"))
