"""Unit tests of the agent's pure parts: hints, checksums, kernel arguments, config drive."""

import base64
import gzip
import json

import pytest

from hwdrivers.agent import checksum
from hwdrivers.agent import cmd
from hwdrivers.agent import config
from hwdrivers.agent import configdrive
from hwdrivers.agent import disk
from hwdrivers.agent import errors
from hwdrivers.agent import fetch
from hwdrivers.agent import pipeline

GiB = disk.GiB
LSBLK = json.dumps({"blockdevices": [
    {"name": "sda", "size": 480 * GiB, "type": "disk", "serial": "S3EVNX0K", "wwn":
     "0x5002538e40a1b2c3", "model": "Samsung SSD 860", "vendor": "ATA     ", "rota": False,
     "hctl": "0:0:0:0"},
    {"name": "sdb", "size": str(2000 * GiB), "type": "disk", "serial": "ZA1B2C3D",
     "wwn": "0x5000c500a1b2c3d4", "model": "ST2000NM0055", "vendor": "ATA", "rota": "1",
     "hctl": "1:0:0:0"},
    {"name": "sr0", "size": 1024, "type": "rom"},
    {"name": "vdc", "size": 2 * GiB, "type": "disk", "rota": True},
    {"name": "zram0", "size": 8 * GiB, "type": "disk", "rota": False},
]})
DISKS = disk.parse_lsblk(LSBLK)


def test_parse_lsblk_keeps_disks_only():
    assert [d["name"] for d in DISKS] == ["sda", "sdb", "vdc"]
    assert DISKS[1]["size"] == 2000 * GiB and DISKS[1]["rota"] is True
    assert DISKS[0]["rota"] is False


@pytest.mark.parametrize("hints, expected", [
    ({}, "sda"),  # the smallest disk of at least 4 GiB
    ({"name": "/dev/sdb"}, "sdb"),
    ({"name": "vdc"}, "vdc"),
    ({"size": 2000}, "sdb"),
    ({"size": ">= 100"}, "sda"),
    ({"size": "> 500"}, "sdb"),
    ({"size": "<= 2"}, "vdc"),
    ({"serial": "ZA1B2C3D"}, "sdb"),
    ({"wwn": "0x5002538E40A1B2C3"}, "sda"),
    ({"model": "samsung ssd 860"}, "sda"),
    ({"vendor": "ata", "rotational": True}, "sdb"),
    ({"rotational": "false"}, "sda"),
    ({"hctl": "1:0:0:0", "size": ">= 1000"}, "sdb"),
])
def test_root_device_hints(hints, expected):
    assert disk.choose_disk(DISKS, hints)["name"] == expected


def test_lsblk_of_this_machine():
    """The columns asked for exist in the installed lsblk, and its disks resolve by name."""
    import shutil
    if shutil.which("lsblk") is None:
        pytest.skip("lsblk is not installed (Debian: util-linux)")
    disks = disk.list_disks()
    assert all(not d["name"].startswith("zram") for d in disks)
    if not disks:
        pytest.skip("lsblk sees no disk here")
    assert disk.resolve(None, {"name": disks[0]["name"]}) == "/dev/" + disks[0]["name"]


def test_root_device_hint_errors_name_the_problem():
    with pytest.raises(errors.DeviceNotFound, match="unknown root device hint.*by-path"):
        disk.choose_disk(DISKS, {"by-path": "/dev/disk/by-path/x"})
    with pytest.raises(errors.DeviceNotFound, match="'size' must be a positive number of GiB"):
        disk.choose_disk(DISKS, {"size": "big"})
    with pytest.raises(errors.DeviceNotFound, match=r"no disk matches.*sda \(480 GiB\)"):
        disk.choose_disk(DISKS, {"serial": "nope"})


def test_make_unbootable_zeroes_the_three_regions(tmp_path):
    path = tmp_path / "disk"
    path.write_bytes(b"\xff" * (10 * disk.MiB))
    disk.make_unbootable(str(path), written=5 * disk.MiB + 7)
    data = path.read_bytes()
    assert len(data) == 10 * disk.MiB  # never grown or truncated
    assert data[:disk.MiB] == bytes(disk.MiB)
    assert data[-disk.MiB:] == bytes(disk.MiB)
    end = 5 * disk.MiB + 7
    assert data[end - disk.MiB:end] == bytes(disk.MiB)
    assert data[disk.MiB:end - disk.MiB] == b"\xff" * (end - 2 * disk.MiB)


SUMS = """# SHA256 hashes
{a}  ubuntu.img
{b} *cirros.img
SHA256 (fedora.raw) = {c}
"""


def test_checksum_file_formats():
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    text = SUMS.format(a=a, b=b, c=c)
    assert checksum.parse_checksum_file(text, "ubuntu.img") == a
    assert checksum.parse_checksum_file(text, "cirros.img") == b
    assert checksum.parse_checksum_file(text, "fedora.raw") == c
    assert checksum.parse_checksum_file(text, "other.img") is None
    assert checksum.parse_checksum_file("  %s\n" % a, "anything") == a  # a bare digest


def test_resolve_fetches_the_file_for_the_image_name():
    fetched = []
    info = {"id": "i", "urls": ["http://h/images/cirros.img?sig=secret"],
            "checksum": "http://h/images/SHA256SUMS?sig=secret"}

    def fetch_text(url):
        fetched.append(url)
        return SUMS.format(a="a" * 64, b="B" * 64, c="c" * 64).splitlines()

    expected = checksum.resolve(info, False, fetch_text)
    assert (expected.algorithm, expected.value) == ("sha256", "b" * 64)
    assert expected.source == "http://h/images/SHA256SUMS"  # no query string
    assert fetched == [info["checksum"]]
    missing = dict(info, urls=["http://h/other.img"])
    with pytest.raises(errors.ImageDownloadError, match="has no line for other.img"):
        checksum.resolve(missing, False, fetch_text)


def test_resolve_refuses_an_algorithm_mismatch_and_md5():
    info = {"id": "i", "urls": ["http://h/x"], "os_hash_algo": "sha512",
            "os_hash_value": "a" * 64}
    with pytest.raises(errors.ImageDownloadError, match="os_hash_algo is sha512"):
        checksum.resolve(info, False, lambda url: [])
    md5_file = {"id": "i", "urls": ["http://h/x"], "checksum": "http://h/MD5SUMS"}
    with pytest.raises(errors.InvalidCommandParamsError, match="MD5 is refused"):
        checksum.resolve(md5_file, False, lambda url: ["%s  x" % ("d" * 32)])
    assert checksum.resolve(md5_file, True, lambda url: ["%s  x" % ("d" * 32)]).algorithm == (
        "md5")


@pytest.mark.parametrize("info, message", [
    ("x", "must be a JSON object"),
    ({"id": "i", "urls": "http://h/x", "os_hash_algo": "sha256", "os_hash_value": "a" * 64},
     "'urls' must be a non-empty list"),
    ({"id": "i", "urls": ["ftp://h/x"], "checksum": "a" * 64}, "http(s) URLs"),
    ({"id": "i", "urls": ["http://h/x"], "os_hash_value": "a" * 64}, "'os_hash_algo'"),
    ({"id": "i", "urls": ["http://h/x"], "os_hash_algo": "sha256"}, "'os_hash_value'"),
    ({"id": "i", "urls": ["http://h/x"], "checksum": "xyz"}, "not a hex digest"),
    ({"id": "i", "urls": ["http://h/x"], "checksum": "a" * 32}, "--allow-md5"),
    ({"id": "i", "urls": ["http://h/x"], "os_hash_algo": "md5", "os_hash_value": "a" * 32},
     "--allow-md5"),
])
def test_validate_names_the_field(info, message):
    with pytest.raises(errors.InvalidCommandParamsError) as exc:
        checksum.validate(info, allow_md5=False)
    assert message in str(exc.value)


def test_kernel_cmdline_arguments():
    values = config.parse_kernel_cmdline(
        "BOOT_IMAGE=/vmlinuz console=ttyS0,115200 ipa-api-url=http://a:6385,http://b:6385 "
        "BOOTIF=01-52-54-00-AB-CD-EF ipa-insecure=1 ipa-lookup-timeout=30 nofb "
        "ipa-node-uuid=0b8a3d4e-6f5a-4c2e-9d1b-3a7e5f6c8d90")
    assert values == {"api_urls": ["http://a:6385", "http://b:6385"],
                      "macs": ["52:54:00:ab:cd:ef"], "insecure": True,
                      "lookup_timeout": 30.0,
                      "node_uuid": "0b8a3d4e-6f5a-4c2e-9d1b-3a7e5f6c8d90"}
    with pytest.raises(ValueError, match="kernel argument BOOTIF"):
        config.parse_kernel_cmdline("BOOTIF=01-zz")
    with pytest.raises(ValueError, match="kernel argument ipa-listen-port"):
        config.parse_kernel_cmdline("ipa-listen-port=http")


def test_flags_win_over_the_kernel_command_line(tmp_path):
    line = tmp_path / "cmdline"
    line.write_text("ipa-api-url=http://kernel:6385 BOOTIF=01-52-54-00-00-00-01 "
                    "ipa-agent-token=%s ipa-listen-port=1234\n" % ("t" * 40))
    args = cmd.build_parser().parse_args([
        "--kernel-cmdline-file", str(line), "--listen-port", "0",
        "--mac", "52:54:00:00:00:02", "--root-device-hints", '{"size": ">= 10"}'])
    conf = cmd.make_config(args)
    assert conf.api_urls == ["http://kernel:6385"]
    assert conf.listen_port == 0
    assert conf.macs == ["52:54:00:00:00:02", "52:54:00:00:00:01"]
    assert conf.agent_token == "t" * 40  # from the file, never argv
    assert conf.root_device_hints == {"size": ">= 10"}


@pytest.mark.parametrize("argv, message", [
    (["--api-url", "http://x"], "no MAC address"),
    (["--mac", "52:54:00:00:00:01", "--kernel-cmdline", "console=tty0"], "no API URL"),
    (["--api-url", "http://x", "--mac", "nope"], "not a MAC address"),
    (["--api-url", "http://x", "--mac", "52:54:00:00:00:01", "--root-device",
      "/nonexistent/disk"], "--root-device /nonexistent/disk does not exist"),
])
def test_bad_arguments_exit_2(argv, message, capsys):
    assert cmd.main(argv) == 2
    assert message in capsys.readouterr().err


def test_config_drive_decoding():
    iso = b"CD001" + bytes(1000)
    blob = base64.b64encode(gzip.compress(iso)).decode()
    http = fetch.HTTPOptions()
    assert configdrive.decode(blob, http) == iso
    with pytest.raises(errors.ConfigDriveError, match="not base64 of gzip"):
        configdrive.decode("this is not a config drive", http)
    bomb = base64.b64encode(gzip.compress(bytes(65 * 1024 * 1024))).decode()
    with pytest.raises(errors.ConfigDriveError, match="larger than the 64 MiB limit"):
        configdrive.decode(bomb, http)


def test_pipeline_hands_a_consumer_error_to_the_producer():
    seen = []

    def failing(view, offset):
        if offset >= 2:
            raise errors.ImageWriteError("disk gone at %d" % offset)
        seen.append(bytes(view))

    flow = pipeline.Pipeline([failing], [bytearray(1) for _ in range(2)])
    with pytest.raises(errors.ImageWriteError, match="disk gone at 2"):
        for offset in range(100):
            buf = flow.take()
            buf[0] = offset
            flow.submit(buf, 1, offset)
    with pytest.raises(errors.ImageWriteError):
        flow.close()
    assert seen == [b"\x00", b"\x01"]  # in order, and nothing after the failure
