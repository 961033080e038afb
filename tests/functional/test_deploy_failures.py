"""Deploys that must fail cleanly, through the API, the conductor and a real agent.

Each bad input ends with a clear ``last_error`` naming the problem, the node
in ``deploy failed`` (or unchanged when the request itself was refused), the
machine powered off and its agent process gone, no iPXE script left for it,
and nothing bootable on its disk. The agent's own handling of these cases
is tested in isolation in tests/agent/; here they go through the conductor.
"""

import os
import subprocess
import sys

import pytest

from hwdrivers.testing import simulator
from tests.functional import deploy_env
from tests.waits import wait_for

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


@pytest.fixture
def env(tmp_path):
    with deploy_env.running(tmp_path, deploy_options={"callback_timeout": 4}) as environment:
        yield environment


def _info(url, digest, **extra):
    return dict({"image_source": url, "image_os_hash_algo": "sha256",
                 "image_os_hash_value": digest}, **extra)


def _deploy_fails(env, name, machine, *words):
    env.deploy(name)
    node = env.wait_state(name, "deploy failed", timeout=90)
    for word in words:
        assert word in node["last_error"], node["last_error"]
    assert wait_for(lambda: machine.power == "off", timeout=30, message="power off")
    state = machine.state()
    assert state["pid"] is None
    scripts = [f for f in deploy_env.files_in(str(env.tmp_path / "httpboot"))
               if f != "boot.ipxe"]
    assert scripts == []
    assert not any(k.startswith("agent_") for k in node["driver_internal_info"])
    # Even an agent stopped mid-write (a download timeout) leaves nothing
    # bootable: it writes the image's first chunk only after the checksum held.
    assert simulator.inspect_disk(machine.disk) == simulator.NO_BOOTABLE_IMAGE
    return node


def test_wrong_checksum_fails_and_leaves_the_disk_unbootable(env):
    url, digest, _ = env.add_image("sum.img", size=6 * MiB)
    wrong = "0" * 64
    machine, _ = env.add_machine("sum1", instance_info=_info(url, wrong))
    env.make_available("sum1")
    _deploy_fails(env, "sum1", machine, "write_image", "ImageChecksumError", wrong, digest)
    # "deploy failed" is published before the machine is powered off; the
    # verified "power off" is recorded once it is (before 61e1422 the node
    # still read the "power off" of before the deploy: its power-on went unrecorded).
    wait_for(lambda: env.node("sum1")["power_state"] == "power off", timeout=30,
             message="the recorded power off")
    # undeploy from deploy failed: back to available, ready for another try
    status, body = env.call("PUT", "/v1/nodes/sum1/states/provision", {"target": "deleted"})
    assert status == 202, body
    node = env.wait_state("sum1", "available")
    assert node["instance_info"] == {} and node["last_error"] is None


def test_image_url_404_fails_before_the_machine_is_touched(env):
    """As Ironic's validation: the conductor's HEAD finds the image missing, so
    the deploy fails before a power cycle and a ramdisk boot. The URL's
    credentials and query (a token) are not repeated in the error."""
    url = env.images.url.replace("http://", "http://user:pa55word@") + "/missing.img?t=tok3n"
    machine, _ = env.add_machine("nf1", instance_info=_info(url, "1" * 64))
    env.make_available("nf1")
    node = _deploy_fails(env, "nf1", machine, "image_source", "404", "/missing.img")
    assert "pa55word" not in node["last_error"] and "tok3n" not in node["last_error"]
    assert env.images.heads["/missing.img"] == 1
    # one GET: the conductor's one-byte confirmation of the HEAD's 404 (a URL
    # signed for GET refuses HEAD); no agent ever asked, the machine never ran
    assert env.images.count("missing.img") == 1
    assert not any(line.startswith("power on") for line in machine.state()["log"])


def test_image_url_404_to_the_agent_alone_fails_with_its_download_error(env):
    """A server that does not answer HEAD (405) leaves the image to the agent,
    whose GET finds it missing: a 404 is not retried."""
    url = env.images.add("headless.img", data=b"", status=404, head_status=405)
    machine, _ = env.add_machine("nf2", instance_info=_info(url, "1" * 64))
    env.make_available("nf2")
    _deploy_fails(env, "nf2", machine, "ImageDownloadError", "404")
    assert env.images.count("headless.img") == 1


def test_an_image_the_conductor_cannot_check_is_left_to_the_agent(env):
    url, digest, _ = env.add_image("nohead.img", size=4 * MiB, head_status=501,
                                   marker="nohead-ok")
    machine, _ = env.add_machine("nh1", instance_info=_info(url, digest))
    env.make_available("nh1")
    env.deploy("nh1")
    env.wait_state("nh1", "active")
    assert env.images.heads["/nohead.img"] == 1
    assert wait_for(lambda: machine.booted == "nohead-ok", timeout=30, message="boot")


def test_connection_reset_mid_download_is_retried_then_fails(env):
    url, digest, _ = env.add_image("reset.img", size=6 * MiB, drop_after=2 * MiB)
    machine, _ = env.add_machine("rs1", instance_info=_info(url, digest))
    env.make_available("rs1")
    _deploy_fails(env, "rs1", machine, "ImageDownloadError")
    assert env.images.count("reset.img") == 3  # --download-retries 2


def test_connection_reset_once_is_retried_and_succeeds(env):
    url, digest, _ = env.add_image("flaky.img", size=6 * MiB, drop_after=MiB,
                                   drop_times=1, marker="flaky-ok")
    machine, _ = env.add_machine("fl1", instance_info=_info(url, digest))
    env.make_available("fl1")
    env.deploy("fl1")
    env.wait_state("fl1", "active")
    assert env.images.count("flaky.img") == 2
    assert wait_for(lambda: machine.booted == "flaky-ok", timeout=30, message="boot")


def test_image_larger_than_the_disk_fails(env):
    url, digest, _ = env.add_image("big.img", size=40 * MiB)
    machine, _ = env.add_machine("big1", disk_size=32 * MiB,
                                 instance_info=_info(url, digest))
    env.make_available("big1")
    node = _deploy_fails(env, "big1", machine, "write_image")
    assert "larger" in node["last_error"] or "does not fit" in node["last_error"] \
        or "bigger" in node["last_error"], node["last_error"]


def test_agent_never_calling_back_times_out_and_powers_off(env):
    url, digest, _ = env.add_image("cb.img", size=4 * MiB)
    # The agent looks its node up at a dead address: the conductor never hears of it.
    machine, _ = env.add_machine("cb1", instance_info=_info(url, digest),
                                 agent_args=["--api-url", "http://127.0.0.1:9"])
    env.make_available("cb1")
    env.deploy("cb1")
    wait_for(lambda: machine.state()["pid"], timeout=30, message="the agent to start")
    node = env.wait_state("cb1", "deploy failed", timeout=60)
    assert "timeout in deploy step deploy.deploy" in node["last_error"]
    assert "callback_timeout" in node["last_error"]
    assert wait_for(lambda: machine.power == "off", timeout=30, message="power off")
    assert machine.state()["pid"] is None


def _waiting_for_call_back(env, name):
    """``(machine, agent pid)`` of a deploy whose agent cannot reach the API."""
    url, digest, _ = env.add_image("%s.img" % name, size=4 * MiB)
    machine, _ = env.add_machine(name, instance_info=_info(url, digest),
                                 agent_args=["--api-url", "http://127.0.0.1:9"])
    env.make_available(name)
    env.deploy(name)
    env.wait_state(name, "wait call-back", timeout=30)
    return machine, wait_for(lambda: machine.state()["pid"], timeout=30, message="the agent")


def test_abort_during_wait_call_back(env):
    machine, pid = _waiting_for_call_back(env, "ab1")
    status, body = env.call("PUT", "/v1/nodes/ab1/states/provision", {"target": "abort"})
    assert status == 202, body
    node = env.wait_state("ab1", "deploy failed", timeout=30)  # published at once
    assert "aborted" in node["last_error"]
    # then a worker powers the machine off and records which step was aborted
    node = wait_for(lambda: (lambda n: n if "deploy.deploy" in n["last_error"] else None)(
        env.node("ab1")), timeout=30, message="the abort's clean-up")
    assert "aborted by request" in node["last_error"]
    assert wait_for(lambda: machine.power == "off", timeout=30, message="power off")
    assert not os.path.exists("/proc/%d" % pid) or \
        open("/proc/%d/stat" % pid).read().split(")")[1].split()[0] == "Z"
    assert [f for f in deploy_env.files_in(str(env.tmp_path / "httpboot"))
            if f != "boot.ipxe"] == []
    # abort is refused once the node no longer waits
    status, body = env.call("PUT", "/v1/nodes/ab1/states/provision", {"target": "abort"})
    assert status == 400, body


def test_undeploy_during_wait_call_back(env):
    """Ironic's 'deleted' while the ramdisk is up: off, boot files gone, available."""
    machine, _ = _waiting_for_call_back(env, "ud1")
    status, body = env.call("PUT", "/v1/nodes/ud1/states/provision", {"target": "deleted"})
    assert status == 202, body
    node = env.wait_state("ud1", "available", timeout=60)
    assert node["instance_info"] == {} and node["last_error"] is None
    assert not node["driver_internal_info"].get("deploy_steps")
    assert wait_for(lambda: machine.power == "off", timeout=30, message="power off")
    assert [f for f in deploy_env.files_in(str(env.tmp_path / "httpboot"))
            if f != "boot.ipxe"] == []


def test_second_agent_claiming_the_node_gets_no_token(env):
    url, digest, _ = env.add_image("two.img", size=4 * MiB, delay=0.05)
    machine, node = env.add_machine("two1", instance_info=_info(url, digest))
    env.make_available("two1")
    env.deploy("two1")
    wait_for(lambda: env.node("two1")["driver_internal_info"].get("agent_url"),
             timeout=60, message="the first agent's heartbeat")
    disk = env.tmp_path / "other-disk.img"
    disk.write_bytes(b"\0" * MiB)
    second = subprocess.run(
        [sys.executable, "-m", "hwdrivers.agent.cmd", "--api-url", env.server.url,
         "--mac", machine.macs[0], "--listen-host", "127.0.0.1", "--listen-port", "0",
         "--root-device", str(disk), "--lookup-timeout", "20", "--lookup-interval", "0.2"],
        capture_output=True, text=True, timeout=60)
    assert second.returncode == 1, second.stderr
    assert "agent token" in second.stderr
    env.wait_state("two1", "active")


def test_missing_deploy_kernel_is_refused_and_changes_nothing(env):
    url, digest, _ = env.add_image("nk.img", size=4 * MiB)
    machine, _ = env.add_machine("nk1", instance_info=_info(url, digest))
    env.make_available("nk1")
    status, body = env.call("PATCH", "/v1/nodes/nk1", [
        {"op": "remove", "path": "/driver_info/deploy_kernel"}])
    assert status == 200, body
    before = env.node("nk1")
    status, body = env.call("PUT", "/v1/nodes/nk1/states/provision", {"target": "active"})
    assert status == 400, body
    assert "deploy_kernel" in body["error_message"]
    after = env.node("nk1")
    assert after["provision_state"] == "available" and after["last_error"] is None
    assert after["updated_at"] == before["updated_at"]
    assert machine.power == "off" and machine.state()["log"] == []


def test_validate_reports_boot_and_deploy_problems_without_hardware(env):
    machine, _ = env.add_machine("val1", driver_info={"deploy_kernel": None})
    status, body = env.call("PATCH", "/v1/nodes/val1", [
        {"op": "remove", "path": "/driver_info/deploy_kernel"}])
    status, body = env.call("GET", "/v1/nodes/val1/validate")
    assert status == 200, body
    assert body["boot"]["result"] is False and "deploy_kernel" in body["boot"]["reason"]
    assert body["deploy"]["result"] is False
    assert "image_source" in body["deploy"]["reason"]
    assert "checksum" in body["deploy"]["reason"]
    assert machine.state()["log"] == []


def test_qcow2_without_qemu_img_is_a_clear_tool_missing(env, tmp_path):
    raw_url, _, raw_path = env.add_image("q.raw", size=4 * MiB)
    qcow = str(tmp_path / "q.qcow2")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw_path, qcow],
                   check=True)
    from hwdrivers.testing import images
    url = env.images.add("q.qcow2", path=qcow)
    bindir = tmp_path / "bin-without-qemu-img"
    bindir.mkdir()
    os.symlink("/usr/sbin/sgdisk", bindir / "sgdisk")
    machine, _ = env.add_machine("qc1", env={"PATH": str(bindir)}, instance_info=_info(
        url, images.sha256_of(qcow), image_disk_format="qcow2"))
    env.make_available("qc1")
    _deploy_fails(env, "qc1", machine, "qemu-img", "qemu-utils")


def test_image_download_timeout_powers_off_and_names_the_step(tmp_path):
    environment = deploy_env.DeployEnv(
        tmp_path, deploy_options={"image_download_timeout": 3}).start()
    try:
        # 8 MiB at 64 KiB per 0.2 s: about 25 s, far past the 3 s allowed
        url, digest, _ = environment.add_image("slow.img", size=8 * MiB, delay=0.2)
        machine, _ = environment.add_machine("slow1", instance_info=_info(url, digest))
        environment.make_available("slow1")
        _deploy_fails(environment, "slow1", machine,
                      "timeout in deploy step deploy.write_image",
                      "image_download_timeout = 3s", "powered off")
    finally:
        assert environment.stop() == 0


def test_a_missing_checksum_file_fails_before_the_machine_is_touched(env):
    url, _, _ = env.add_image("sums.img", size=4 * MiB)
    sums = env.images.url + "/SHA256SUMS-missing"
    machine, _ = env.add_machine("cs1", instance_info=_info(url, sums))
    env.make_available("cs1")
    _deploy_fails(env, "cs1", machine, "image_os_hash_value", "404", "SHA256SUMS-missing")
    assert env.images.heads["/SHA256SUMS-missing"] == 1
    assert env.images.count("sums.img") == 0
    assert not any(line.startswith("power on") for line in machine.state()["log"])
