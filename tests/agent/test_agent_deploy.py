"""hwdrivers-agent as a real process: prepare_image against real HTTP peers.

Each test starts the agent with a sparse disk image file, a FakeConductor
(lookup, heartbeat) and an ImageServer on 127.0.0.1, drives its command API
over HTTP with the token from lookup, and checks the disk file's bytes.
"""

import base64
import gzip
import os
import shutil
import subprocess

import pytest

from tests.agent.helpers import MiB, assert_unbootable, image_info, mark_bootable, read, sha

def test_raw_image_streams_to_disk_with_sha256sums(start_agent, image_server, raw_image,
                                                  tmp_path):
    path, data = raw_image
    url = image_server.add("images/image.raw", path=str(path))
    sums = "%s  other.img\n%s *image.raw\n" % ("0" * 64, sha(data))
    sums_url = image_server.add("images/SHA256SUMS", data=sums.encode())
    agent = start_agent()
    size_before = os.path.getsize(agent.disk)
    doc = agent.run("standby.prepare_image",
                    {"image_info": {"id": "img-1", "urls": [url], "checksum": sums_url}})
    assert doc["command_status"] == "SUCCEEDED", doc
    assert doc["command_name"] == "prepare_image"
    assert doc["command_error"] is None
    assert doc["command_result"]["result"].startswith(
        "prepare_image: image (img-1) written to device %s" % agent.disk)
    assert doc["command_result"]["image"]["sha256"] == sha(data)
    assert set(doc) == {"id", "command_name", "command_status", "command_error",
                        "command_result"}  # IPA never returns command_params
    assert sha(read(agent.disk, 0, len(data))) == sha(data)
    assert os.path.getsize(agent.disk) == size_before  # written in place, never grown
    assert image_server.count("images/image.raw") == 1
    # the command is listed, and sync runs synchronously
    status, listing = agent.request("GET", "/v1/commands/")
    assert status == 200 and [c["id"] for c in listing["commands"]] == [doc["id"]]
    status, synced = agent.command("standby.sync", {})
    assert status == 200 and synced["command_status"] == "SUCCEEDED"
    status, uuids = agent.command("standby.get_partition_uuids", {})
    assert uuids["command_result"] == {"root uuid": "0x%08x" % int.from_bytes(data[440:444],
                                                                             "little")}


def test_sha512_and_config_drive_partition(start_agent, image_server, tmp_path):
    # a GPT whole-disk image: one partition full of random data
    image = tmp_path / "gpt.img"
    with open(image, "wb") as handle:
        handle.truncate(8 * MiB)
    subprocess.run(["sgdisk", "-o", "-n", "1:2048:0", "-c", "1:root", str(image)],
                   check=True, capture_output=True)
    payload = os.urandom(6 * MiB)
    with open(image, "r+b") as handle:
        handle.seek(MiB)
        handle.write(payload)
    data = image.read_bytes()
    url = image_server.add("gpt.img", path=str(image))
    drive = b"CD001" + os.urandom(300 * 1024)  # stands for the ISO the conductor builds
    blob = base64.b64encode(gzip.compress(drive)).decode()
    agent = start_agent(disk_size=128 * MiB)
    doc = agent.run("standby.prepare_image", {
        "image_info": image_info(url, data, os_hash_algo="sha512",
                                 os_hash_value=sha(data, "sha512")),
        "configdrive": blob})
    assert doc["command_status"] == "SUCCEEDED", doc
    assert doc["command_result"]["configdrive"] is True
    assert read(agent.disk, MiB, len(payload)) == payload  # the root partition's data
    table = subprocess.run(["sgdisk", "-p", agent.disk], check=True, capture_output=True,
                           text=True).stdout
    rows = [line.split() for line in table.splitlines() if line.strip().endswith("config-2")]
    assert len(rows) == 1, table
    number, first, last = (int(v) for v in rows[0][:3])
    assert last == 128 * MiB // 512 - 34  # at the end of the disk, before the backup GPT
    assert (last - first + 1) * 512 >= 64 * MiB
    assert read(agent.disk, first * 512, len(drive)) == drive
    verify = subprocess.run(["sgdisk", "-v", agent.disk], capture_output=True, text=True)
    assert verify.returncode == 0 and "No problems found" in verify.stdout, verify.stdout


def test_config_drive_from_url(start_agent, image_server, tmp_path):
    image = tmp_path / "gpt.img"
    with open(image, "wb") as handle:
        handle.truncate(4 * MiB)
    subprocess.run(["sgdisk", "-o", "-n", "1:2048:0", str(image)], check=True,
                   capture_output=True)
    data = image.read_bytes()
    drive = b"CD001" + os.urandom(4096)
    drive_url = image_server.add("drive", data=base64.b64encode(gzip.compress(drive)))
    agent = start_agent(disk_size=80 * MiB)
    doc = agent.run("standby.prepare_image", {
        "image_info": image_info(image_server.add("gpt.img", path=str(image)), data),
        "configdrive": drive_url})
    assert doc["command_status"] == "SUCCEEDED", doc
    table = subprocess.run(["sgdisk", "-i", "2", agent.disk], check=True,
                           capture_output=True, text=True).stdout
    assert "Partition name: 'config-2'" in table
    first = int(table.split("First sector: ")[1].split()[0])
    assert read(agent.disk, first * 512, len(drive)) == drive


def test_wrong_checksum_names_both_and_leaves_disk_unbootable(start_agent, image_server,
                                                              raw_image):
    path, data = raw_image
    url = image_server.add("image.raw", path=str(path))
    agent = start_agent()
    mark_bootable(agent.disk)
    wrong = sha(b"something else")
    doc = agent.run("standby.prepare_image",
                    {"image_info": image_info(url, data, os_hash_value=wrong)})
    assert doc["command_status"] == "FAILED"
    error = doc["command_error"]
    assert error["type"] == "ImageChecksumError" and error["code"] == 500
    assert wrong in error["details"] and sha(data) in error["details"]
    assert_unbootable(agent.disk)
    assert image_server.count("image.raw") == 3  # retried (--download-retries 2), as IPA


def test_404_fails_without_retry(start_agent, image_server):
    agent = start_agent()
    mark_bootable(agent.disk)
    url = image_server.url + "/missing.img"
    doc = agent.run("standby.prepare_image", {"image_info": image_info(url, b"")})
    assert doc["command_status"] == "FAILED"
    assert doc["command_error"]["type"] == "ImageDownloadError"
    assert "HTTP 404" in doc["command_error"]["details"]
    assert image_server.count("missing.img") == 1
    assert_unbootable(agent.disk)


def test_connection_reset_is_retried_then_fails(start_agent, image_server, raw_image):
    path, data = raw_image
    url = image_server.add("reset.raw", path=str(path), drop_after=MiB + 5)
    agent = start_agent()
    mark_bootable(agent.disk)
    doc = agent.run("standby.prepare_image", {"image_info": image_info(url, data)})
    assert doc["command_status"] == "FAILED"
    assert doc["command_error"]["type"] == "ImageDownloadError"
    assert image_server.count("reset.raw") == 3  # first attempt + --download-retries 2
    assert_unbootable(agent.disk)
    assert "attempt 2 of 3 failed" in agent.log()


def test_connection_reset_once_then_succeeds(start_agent, image_server, raw_image):
    path, data = raw_image
    url = image_server.add("flaky.raw", path=str(path), drop_after=2 * MiB, drop_times=1)
    agent = start_agent()
    doc = agent.run("standby.prepare_image", {"image_info": image_info(url, data)})
    assert doc["command_status"] == "SUCCEEDED", doc
    assert doc["command_result"]["image"]["attempts"] == 2
    assert sha(read(agent.disk, 0, len(data))) == sha(data)


@pytest.mark.parametrize("no_length", [False, True], ids=["content-length", "no-length"])
def test_image_larger_than_disk(start_agent, image_server, tmp_path, no_length):
    data = os.urandom(6 * MiB)
    path = tmp_path / "big.raw"
    path.write_bytes(data)
    url = image_server.add("big.raw", path=str(path), no_length=no_length)
    agent = start_agent(disk_size=4 * MiB)
    mark_bootable(agent.disk)
    doc = agent.run("standby.prepare_image", {"image_info": image_info(url, data)})
    assert doc["command_status"] == "FAILED"
    assert doc["command_error"]["type"] == "ImageWriteError"
    assert "larger than the disk" in doc["command_error"]["details"]
    assert os.path.getsize(agent.disk) == 4 * MiB  # the file did not grow
    assert_unbootable(agent.disk)


@pytest.mark.skipif(shutil.which("qemu-img") is None,
                    reason="qemu-img is not installed (Debian: apt install qemu-utils)")
def test_qcow2_goes_through_qemu_img(start_agent, image_server, raw_image, tmp_path):
    path, data = raw_image
    qcow2 = tmp_path / "image.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(path), str(qcow2)],
                   check=True, capture_output=True)
    blob = qcow2.read_bytes()
    url = image_server.add("image.qcow2", path=str(qcow2))
    agent = start_agent()
    size_before = os.path.getsize(agent.disk)
    info = image_info(url, blob)
    del info["disk_format"]  # detected from the magic
    doc = agent.run("standby.prepare_image", {"image_info": info})
    assert doc["command_status"] == "SUCCEEDED", doc
    assert doc["command_result"]["image"]["disk_format"] == "qcow2"
    assert sha(read(agent.disk, 0, len(data))) == sha(data)
    assert os.path.getsize(agent.disk) == size_before
    assert not list(tmp_path.glob("hwdrivers-agent-*"))  # the staged copy is removed


def test_qcow2_without_qemu_img_is_tool_missing(start_agent, image_server, tmp_path):
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed to make the qcow2 (apt install qemu-utils)")
    qcow2 = tmp_path / "image.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(qcow2), "2M"], check=True,
                   capture_output=True)
    blob = qcow2.read_bytes()
    url = image_server.add("image.qcow2", path=str(qcow2))
    env = dict(os.environ, PATH=str(tmp_path / "empty-bin"))
    agent = start_agent(env=env)
    mark_bootable(agent.disk)
    doc = agent.run("standby.prepare_image",
                    {"image_info": image_info(url, blob, disk_format="qcow2")})
    assert doc["command_status"] == "FAILED"
    details = doc["command_error"]["details"]
    assert "tool missing: qemu-img" in details and "qemu-utils" in details
    assert_unbootable(agent.disk)


def test_declared_raw_but_qcow2_is_refused(start_agent, image_server, tmp_path):
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed (apt install qemu-utils)")
    qcow2 = tmp_path / "image.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(qcow2), "2M"], check=True,
                   capture_output=True)
    blob = qcow2.read_bytes()
    agent = start_agent()
    doc = agent.run("standby.prepare_image", {"image_info": image_info(
        image_server.add("x.qcow2", path=str(qcow2)), blob, disk_format="raw")})
    assert doc["command_status"] == "FAILED"
    assert "disk_format is raw but the image's content is qcow2" in (
        doc["command_error"]["details"])
    assert read(agent.disk, 0, 4) != b"QFI\xfb"


def fake_iso(label=b"config-2", size=200 * 1024):
    """Bytes with an ISO 9660 primary volume descriptor naming ``label``."""
    data = bytearray(os.urandom(size))
    data[32768:32768 + 6] = b"\x01CD001"
    data[32768 + 40:32768 + 72] = label.ljust(32)
    return bytes(data)


def test_config_drive_on_an_mbr_disk(start_agent, image_server, tmp_path):
    import struct
    image = bytearray(os.urandom(4 * MiB))
    image[446:510] = bytes(64)
    struct.pack_into("<B3sB3sII", image, 446, 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                     2048, 4096)
    image[510:512] = b"\x55\xaa"
    image = bytes(image)
    path = tmp_path / "mbr.img"
    path.write_bytes(image)
    drive = fake_iso()
    agent = start_agent(disk_size=100 * MiB)
    doc = agent.run("standby.prepare_image", {
        "image_info": image_info(image_server.add("mbr.img", path=str(path)), image),
        "configdrive": base64.b64encode(gzip.compress(drive)).decode()})
    assert doc["command_status"] == "SUCCEEDED", doc
    table = subprocess.run(["partx", "-s", "-g", "-o", "NR,START,SECTORS,TYPE", agent.disk],
                           check=True, capture_output=True, text=True).stdout.split()
    end = 100 * MiB // 512
    start = (end - 64 * MiB // 512) // 2048 * 2048
    assert table == ["1", "2048", "4096", "0x83", "2", str(start), str(end - start), "0x83"]
    assert read(agent.disk, start * 512, len(drive)) == drive
    assert read(agent.disk, 0, 446) == image[:446]  # boot code untouched
    assert read(agent.disk, MiB, 2 * MiB) == image[MiB:3 * MiB]


def test_config_drive_without_a_partition_table_fails_unbootable(start_agent, image_server,
                                                                  raw_image):
    path, data = raw_image  # random bytes: no MBR signature, no GPT
    agent = start_agent()
    doc = agent.run("standby.prepare_image", {
        "image_info": image_info(image_server.add("image.raw", path=str(path)), data),
        "configdrive": base64.b64encode(gzip.compress(fake_iso())).decode()})
    assert doc["command_status"] == "FAILED"
    assert doc["command_error"]["type"] == "ConfigDriveError"
    assert "no partition table" in doc["command_error"]["details"]
    assert_unbootable(agent.disk)


def test_bad_config_drive_fails_before_the_disk_is_touched(start_agent, image_server,
                                                           raw_image):
    path, data = raw_image
    agent = start_agent()
    mark_bootable(agent.disk)
    before = read(agent.disk, 0, MiB)
    doc = agent.run("standby.prepare_image", {
        "image_info": image_info(image_server.add("image.raw", path=str(path)), data),
        "configdrive": "not base64 gzip"})
    assert doc["command_status"] == "FAILED"
    assert "not base64 of gzip" in doc["command_error"]["details"]
    assert image_server.count("image.raw") == 0
    assert read(agent.disk, 0, MiB) == before


def test_https_image_server_verified_with_the_ca_file(start_agent, raw_image, tmp_path):
    from tests.agent import servers
    from tests.fixtures import redfish_emulator
    cert, key = redfish_emulator._write_certificate(str(tmp_path))
    path, data = raw_image
    with servers.ImageServer(tls=(cert, key)) as https:
        url = https.add("image.raw", path=str(path))
        assert url.startswith("https://")
        untrusted = start_agent()
        doc = untrusted.run("standby.prepare_image", {"image_info": image_info(url, data)})
        assert doc["command_status"] == "FAILED"
        assert "CERTIFICATE_VERIFY_FAILED" in doc["command_error"]["details"]
        assert "give --ca-file" in doc["command_error"]["details"]
        assert "retrying" not in untrusted.log()  # a certificate problem is not retried
        assert https.count("image.raw") == 0  # the handshake failed: no GET reached it
        untrusted.stop()
        os.unlink(untrusted.disk)
        trusted = start_agent(extra=["--ca-file", cert])
        doc = trusted.run("standby.prepare_image", {"image_info": image_info(url, data)})
        assert doc["command_status"] == "SUCCEEDED", doc
        assert sha(read(trusted.disk, 0, len(data))) == sha(data)
