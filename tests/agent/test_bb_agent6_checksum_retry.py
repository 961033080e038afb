"""A checksum mismatch is downloaded again, as IPA does (image_download_connection_retries).

The agent runs as a process against an ImageServer that flips one bit of
the body the first time(s) it is asked: corruption in transit, which the
next download does not repeat. An image wrong at its source still fails,
after the last attempt, with both digests named and the disk unbootable.
"""

from tests.agent.helpers import assert_unbootable, image_info, mark_bootable, read, sha


def test_a_body_corrupted_once_is_downloaded_again(start_agent, image_server, raw_image):
    path, data = raw_image
    url = image_server.add("image.raw", path=str(path), corrupt_times=1)
    agent = start_agent()
    doc = agent.run("standby.prepare_image", {"image_info": image_info(url, data)})
    assert doc["command_status"] == "SUCCEEDED", doc
    assert doc["command_result"]["image"]["attempts"] == 2
    assert image_server.count("image.raw") == 2
    assert read(agent.disk, 0, len(data)) == data
    assert "Image failed to verify against checksum" in agent.log()  # said, then retried


def test_a_checksum_file_is_read_again_after_a_mismatch(start_agent, image_server, raw_image):
    """IPA fetches the checksum file on each attempt: a mirror may be mid-sync."""
    path, data = raw_image
    url = image_server.add("image.raw", path=str(path), corrupt_times=1)
    sums = image_server.add("SHA256SUMS", data=("%s  image.raw\n" % sha(data)).encode())
    agent = start_agent()
    doc = agent.run("standby.prepare_image",
                    {"image_info": {"id": "img-1", "urls": [url], "checksum": sums}})
    assert doc["command_status"] == "SUCCEEDED", doc
    assert image_server.count("SHA256SUMS") == 2


def test_an_image_wrong_at_its_source_fails_after_the_last_attempt(start_agent, image_server,
                                                                   raw_image):
    path, data = raw_image
    url = image_server.add("image.raw", path=str(path))
    agent = start_agent()  # --download-retries 2
    mark_bootable(agent.disk)
    wrong = sha(b"another image")
    doc = agent.run("standby.prepare_image",
                    {"image_info": image_info(url, data, os_hash_value=wrong)})
    assert doc["command_status"] == "FAILED"
    error = doc["command_error"]
    assert error["type"] == "ImageChecksumError", error
    assert wrong in error["details"] and sha(data) in error["details"]
    assert image_server.count("image.raw") == 3
    assert_unbootable(agent.disk)
