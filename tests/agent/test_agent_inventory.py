"""hwdrivers-agent's inventory (in-band inspection): what it reads and how it posts."""

import http.server
import json
import threading

import pytest

from hwdrivers.agent import cmd
from hwdrivers.agent import errors
from hwdrivers.agent import inventory

CPUINFO = """processor\t: 0
model name\t: Example CPU @ 2.00GHz
cpu MHz\t\t: 1999.999
flags\t\t: fpu vme sse2

processor\t: 1
model name\t: Example CPU @ 2.00GHz
cpu MHz\t\t: 2000.001
flags\t\t: fpu vme sse2
"""


def test_cpu_and_memory_from_proc_text(tmp_path):
    found = inventory.cpu(CPUINFO)
    assert found["count"] == 2
    assert found["model_name"] == "Example CPU @ 2.00GHz"
    assert found["frequency"] == "1999.999" and found["flags"] == ["fpu", "vme", "sse2"]
    # physical memory: online blocks of /sys/devices/system/memory
    sysmem = tmp_path / "memory"
    sysmem.mkdir()
    (sysmem / "block_size_bytes").write_text("8000000\n")  # 128 MiB, hex
    for index, online in enumerate(("1", "1", "0")):
        (sysmem / ("memory%d" % index)).mkdir()
        (sysmem / ("memory%d" % index) / "online").write_text(online + "\n")
    assert inventory.memory("MemTotal:  200000 kB\n", str(sysmem)) == {
        "total": 200000 * 1024, "physical_mb": 256}
    assert inventory.memory("MemTotal:  204800 kB\n", str(tmp_path / "none")) == {
        "total": 204800 * 1024, "physical_mb": 200}


def test_given_nics_and_disks_replace_the_hosts(tmp_path):
    image = tmp_path / "disk.img"
    with open(image, "wb") as handle:
        handle.truncate(5 * inventory.GiB)
    data = inventory.collect(nics=[("eth0", "52:54:00:00:00:01")], disk_paths=[str(image)],
                             pxe_mac="52:54:00:00:00:01")
    assert data["inventory"]["interfaces"] == [
        {"name": "eth0", "mac_address": "52:54:00:00:00:01", "has_carrier": True}]
    assert [(d["name"], d["size"]) for d in data["inventory"]["disks"]] == [
        (str(image), 5 * inventory.GiB)]
    assert data["root_disk"]["name"] == str(image)
    assert data["boot_interface"] == "52:54:00:00:00:01"
    assert data["error"] is None


def test_this_hosts_interfaces_are_read_when_none_are_given():
    found = inventory.interfaces()
    assert all(len(nic["mac_address"].split(":")) == 6 for nic in found)


def test_links_without_a_device_are_left_out_when_real_ones_exist(tmp_path):
    links = [{"name": "eth0", "mac_address": "52:54:00:00:00:01"},
             {"name": "br0", "mac_address": "52:54:00:00:00:02"}]
    (tmp_path / "eth0" / "device").mkdir(parents=True)
    (tmp_path / "br0").mkdir()
    assert [link["name"] for link in inventory._physical(links, str(tmp_path))] == ["eth0"]
    (tmp_path / "eth0" / "device").rmdir()
    assert inventory._physical(links, str(tmp_path)) == links  # only virtual ones: all


def test_nic_and_disk_flags(tmp_path):
    image = tmp_path / "d.img"
    image.write_bytes(b"")
    conf = cmd.make_config(cmd.build_parser().parse_args([
        "--api-url", "http://127.0.0.1:1", "--mac", "52:54:00:00:00:01",
        "--nic", "eth0=52-54-00-00-00-01", "--disk", str(image),
        "--inspection-callback-url", "http://127.0.0.1:1/v1/continue_inspection"]))
    assert conf.nics == [("eth0", "52:54:00:00:00:01")]
    assert conf.disks == [str(image)]
    for bad, words in ((["--nic", "eth0"], "NAME=MAC"), (["--nic", "eth0=zz"], "MAC"),
                       (["--disk", str(tmp_path / "absent")], "does not exist")):
        with pytest.raises(ValueError, match=words):
            cmd.make_config(cmd.build_parser().parse_args(
                ["--api-url", "http://127.0.0.1:1", "--mac", "52:54:00:00:00:01", *bad]))
    from hwdrivers.agent import config
    assert config.parse_kernel_cmdline(
        "ipa-inspection-callback-url=http://10.0.0.1:6385/v1/continue_inspection") == {
        "inspection_callback_url": "http://10.0.0.1:6385/v1/continue_inspection"}


class _Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        status = self.server.statuses.pop(0)
        payload = json.dumps({"uuid": "n-1"} if status < 300 else {"error": "x"}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.bodies, server.statuses = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_post_retries_5xx_and_409_and_gives_up_on_other_4xx(receiver):
    url = "http://127.0.0.1:%d/v1/continue_inspection" % receiver.server_address[1]
    pauses = []
    receiver.statuses = [503, 409, 202]  # 409: the node is busy a moment
    assert inventory.post(url, {"inventory": {}}, sleep=pauses.append) == {"uuid": "n-1"}
    assert len(receiver.bodies) == 3 and pauses == [5.0, 7.5]
    receiver.statuses = [404]
    assert inventory.post(url, {"inventory": {}}, sleep=pauses.append) is None
    receiver.statuses = [500] * inventory.POST_ATTEMPTS
    with pytest.raises(errors.InspectionError, match="after 5 attempts"):
        inventory.post(url, {"inventory": {}}, sleep=lambda s: None)
