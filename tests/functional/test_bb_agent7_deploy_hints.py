"""A deploy's own root device hint, through our conductor's lookup, picks the disk.

The agent takes ``instance_info.root_device`` over ``properties.root_device``
(as IPA), but our lookup returned no instance_info: the image went to the
disk the node's hints named and overwrote it. Here a simulated machine has
two disks, which its agent finds by hints in an ``lsblk`` listing (a stand-in
on PATH naming the two disk files), not by ``--root-device``.
"""

import json
import os

import pytest

from hwdrivers.testing import images
from tests.functional import deploy_env
from tests.waits import wait_for

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
DISK_SIZE = 64 * MiB


@pytest.fixture
def env(tmp_path):
    with deploy_env.running(tmp_path) as environment:
        yield environment


def _fake_lsblk(bindir, disks):
    """An ``lsblk`` answering with ``disks`` ({path: serial}) as the agent asks it.

    A disk's name is its file's absolute path: the agent opens /dev/<name>,
    which os.path.join makes the path itself.
    """
    listing = {"blockdevices": [{"name": path, "size": DISK_SIZE, "type": "disk",
                                 "serial": serial, "rota": "0"}
                                for path, serial in disks.items()]}
    bindir.mkdir()
    script = bindir / "lsblk"
    script.write_text("#!/bin/sh\ncat <<'EOF'\n%s\nEOF\n" % json.dumps(listing))
    os.chmod(script, 0o755)


def test_instance_info_root_device_chooses_the_disk_written(env, tmp_path):
    url, digest, _ = env.add_image("hinted.img", size=4 * MiB)
    node_disk = str(tmp_path / "machines" / "hint1" / "disk.img")  # the simulator's disk
    hinted = tmp_path / "second-disk.img"
    with open(hinted, "wb") as handle:
        handle.truncate(DISK_SIZE)
    bindir = tmp_path / "bin"
    _fake_lsblk(bindir, {node_disk: "S1", str(hinted): "S2"})
    machine, _ = env.add_machine(
        "hint1", disk_size=DISK_SIZE,
        agent_args=["--root-device", ""],  # no given disk: choose by hints
        env={"PATH": "%s:%s" % (bindir, os.environ["PATH"])},
        instance_info={"image_source": url, "image_os_hash_algo": "sha256",
                       "image_os_hash_value": digest, "image_disk_format": "raw",
                       "root_gb": 0, "root_device": {"serial": "S2"}})
    assert machine.disk == node_disk
    status, body = env.call("PATCH", "/v1/nodes/hint1", [
        {"op": "add", "path": "/properties/root_device", "value": {"serial": "S1"}}])
    assert status == 200, body
    env.make_available("hint1")
    env.deploy("hint1")
    env.wait_state("hint1", "active", timeout=120)
    # the image is on the disk the deploy named; the node's own disk is untouched
    assert images.sha256_of(str(hinted), 4 * MiB) == digest
    with open(node_disk, "rb") as disk:
        assert disk.read(MiB) == bytes(MiB)
    assert wait_for(lambda: "from instance_info.root_device" in env.agent_log("hint1"),
                    timeout=30, message="the agent's note of its hints")
