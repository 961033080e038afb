"""Checksum files as mirrors publish them: large, read as a stream, and sometimes cut short.

A mirror's SHA256SUMS for a whole tree lists thousands of files; the agent
searches it line by line (memory: one line) up to CHECKSUM_FILE_LIMIT,
where it stops with an error that says what to give instead. A body that
ends before its Content-Length (a clean close mid-transfer) is retried,
not read as a file without the image's line.
"""

import pytest

from hwdrivers.agent import errors
from hwdrivers.agent import fetch
from hwdrivers.agent import image
from tests.agent.helpers import MiB, read, sha

OPTIONS = fetch.HTTPOptions(timeout=10)
OTHER = b"%s  other.raw\n" % (b"0" * 64)


def _mirror_sums(data, lines=40000):
    """A tree's SHA256SUMS (~4 MiB) with the image's line last."""
    body = "".join("%s  pool/main/p%05d/package_%05d.deb\n" % (sha(b"%d" % i), i, i)
                   for i in range(lines))
    return (body + "%s  image.raw\n" % sha(data)).encode()


def test_a_mirror_sized_checksum_file_is_searched(start_agent, image_server, raw_image):
    path, data = raw_image
    sums = _mirror_sums(data)
    assert len(sums) > 3 * MiB  # the old limit was 1 MiB
    url = image_server.add("image.raw", path=str(path))
    sums_url = image_server.add("SHA256SUMS", data=sums)
    agent = start_agent()
    doc = agent.run("standby.prepare_image",
                    {"image_info": {"id": "img-1", "urls": [url], "checksum": sums_url}})
    assert doc["command_status"] == "SUCCEEDED", doc
    assert read(agent.disk, 0, len(data)) == data


def test_a_checksum_file_cut_short_is_fetched_again(start_agent, image_server, raw_image):
    """Closed cleanly after 70 bytes: http.client returns what came, without a word."""
    path, data = raw_image
    url = image_server.add("image.raw", path=str(path))
    text = "%s  other.raw\n%s  image.raw\n" % (sha(b"x"), sha(data))
    sums_url = image_server.add("SHA256SUMS", data=text.encode(), drop_after=70,
                                drop_times=1, drop_clean=True)
    agent = start_agent()
    doc = agent.run("standby.prepare_image",
                    {"image_info": {"id": "img-1", "urls": [url], "checksum": sums_url}})
    assert doc["command_status"] == "SUCCEEDED", doc
    assert image_server.count("SHA256SUMS") == 2
    assert "ended after 70 of %d bytes" % len(text) in agent.log()


def test_past_the_limit_the_error_says_what_to_give_instead(image_server):
    sums_url = image_server.add("SHA256SUMS", data=OTHER * 20000) + "?sig=S1G"  # 1.4 MiB
    lines = fetch.read_lines(sums_url, OPTIONS, "img-1", limit=MiB, line_limit=1024)
    with pytest.raises(errors.ImageDownloadError) as raised:
        list(lines)
    message = raised.value.details
    assert "larger than 1 MiB" in message and "os_hash_value" in message
    assert not raised.value.retryable and "S1G" not in message


def test_the_search_stops_at_the_image_line(image_server, raw_image):
    """The rest of a large file is not read once the image's line is found."""
    _path, data = raw_image
    head = ("%s  image.raw\n" % sha(data)).encode()
    sums_url = image_server.add("SHA256SUMS", data=head + OTHER * 100000)
    info = {"id": "img-1", "urls": [image_server.url + "/image.raw"], "checksum": sums_url}
    expected = image._resolve_checksum(info, image.WriteOptions(http=OPTIONS))
    assert expected.value == sha(data)


def test_an_overlong_line_is_skipped_not_held(image_server):
    body = b"x" * (64 * 1024) + b"\n" + b"%s  image.raw\n" % sha(b"d").encode()
    url = image_server.add("SUMS", data=body)
    lines = list(fetch.read_lines(url, OPTIONS, "img-1", limit=MiB, line_limit=1024))
    assert lines == ["%s  image.raw\n" % sha(b"d")]


def test_a_config_drive_cut_short_says_so(image_server):
    """It was handed on as it came and failed as "gzip data is corrupt"."""
    url = image_server.add("configdrive", data=b"H4sI" + b"A" * 200, drop_after=100,
                           drop_clean=True)
    with pytest.raises(errors.ImageDownloadError, match="ended after 100 of 204 bytes"):
        fetch.fetch_small(url, OPTIONS, "configdrive", MiB)
