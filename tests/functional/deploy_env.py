"""A deployment on one machine: the real server, an image server and simulated machines.

``DeployEnv`` starts ``hwdrivers-server`` (a subprocess, sim hardware
enabled, short agent heartbeats) and an HTTP image server
(tests/agent/servers.py), and enrolls simulated machines
(hwdrivers.testing.simulator) as ``sim`` nodes with their ports, through the
REST API only. Used by tests/functional/test_deploy*.py and
benchmarks/deploy_fleet.py.
"""

import contextlib
import os
import uuid

from hwdrivers.testing import images
from hwdrivers.testing import simulator
from tests.agent import servers
from tests.functional import server_proc
from tests.waits import wait_for

MiB = 1024 * 1024

#: flags the simulated machines give their agent: fast lookups, heartbeats, retries
AGENT_ARGS = ["--lookup-interval", "0.2", "--min-heartbeat-interval", "0.3",
              "--download-retries", "2", "--download-retry-interval", "0.2",
              "--download-timeout", "10"]


class DeployEnv:
    def __init__(self, tmp_path, deploy_options=None, server_options=None):
        self.tmp_path = tmp_path
        self.images = servers.ImageServer().start()
        options = {
            "DEFAULT": {
                "enabled_hardware_types": "sim,fake-hardware",
                "enabled_power_interfaces": "sim,fake",
                "enabled_management_interfaces": "sim,fake,noop",
                "enabled_boot_interfaces": "ipxe,redfish-virtual-media,fake,noop",
                "enabled_deploy_interfaces": "direct,fake,noop",
            },
            "deploy": dict({"http_root": str(tmp_path / "httpboot"),
                            "heartbeat_timeout": 4, "check_timeouts_interval": 0.5,
                            "power_off_wait": 20,
                            "local_file_allowed_paths": str(tmp_path / "deploy-images")},
                           **(deploy_options or {})),
            "conductor": {"sync_power_state_interval": 0, "workers_pool_size": 64},
        }
        for section, values in (server_options or {}).items():
            options.setdefault(section, {}).update(values)
        self.server = server_proc.ServerProcess(tmp_path, options=options, name="deploy")
        self.kernel_url = self.images.add("deploy.kernel", data=b"not really a kernel\n")
        (tmp_path / "deploy-images").mkdir(exist_ok=True)
        self.ramdisk_path = str(tmp_path / "deploy-images" / "deploy.initramfs")
        with open(self.ramdisk_path, "wb") as handle:
            handle.write(b"not really an initramfs\n")
        self.machines = {}

    def start(self):
        self.server.start()
        return self

    def stop(self):
        for machine in self.machines.values():
            machine.power_off()
        code = self.server.stop()
        self.images.stop()
        return code

    # -- images ----------------------------------------------------------------------

    def add_image(self, name, size=8 * MiB, marker=None, **resource):
        """A raw GPT image served at ``/<name>``; returns (url, sha256, path)."""
        path = str(self.tmp_path / name)
        digest = images.make_raw_image(path, size, marker or name)
        url = self.images.add(name, path=path, **resource)
        return url, digest, path

    # -- machines and nodes ---------------------------------------------------------------

    def add_machine(self, name, disk_size=128 * MiB, mac=None, agent_args=(), env=None,
                    driver_info=None, instance_info=None, boot_interface="ipxe",
                    redfish=None):
        """A simulated machine enrolled as node ``name`` (enroll), with its port.

        ``redfish``: its BMC for virtual media, ``{url, system, username,
        password}`` of a sushy-tools emulator system.
        """
        mac = mac or "52:54:00:%02x:%02x:%02x" % tuple(uuid.uuid4().bytes[:3])
        machine = simulator.Machine.create(
            str(self.tmp_path / "machines" / name), [mac], disk_size,
            boot_url=self.server.url + "/boot/boot.ipxe",
            agent_args=AGENT_ARGS + list(agent_args), env=env, redfish=redfish)
        self.machines[name] = machine
        info = {"sim_path": machine.path, "deploy_kernel": self.kernel_url,
                "deploy_ramdisk": self.ramdisk_path}
        info.update(driver_info or {})
        status, node = self.call("POST", "/v1/nodes", {
            "name": name, "driver": "sim", "driver_info": info,
            "boot_interface": boot_interface, "deploy_interface": "direct",
            "instance_info": instance_info or {}})
        assert status == 201, node
        status, port = self.call("POST", "/v1/ports", {"address": mac,
                                                       "node_uuid": node["uuid"]})
        assert status == 201, port
        return machine, node

    def make_available(self, name):
        for target, state in (("manage", "manageable"), ("provide", "available")):
            status, body = self.call("PUT", "/v1/nodes/%s/states/provision" % name,
                                     {"target": target})
            assert status == 202, body
            self.wait_state(name, state, timeout=60)

    # -- API -------------------------------------------------------------------------

    def call(self, method, path, body=None, headers=None):
        return self.server.call(method, path, body, headers=headers)

    def node(self, name):
        status, body = self.call("GET", "/v1/nodes/%s" % name)
        assert status == 200, body
        return body

    def wait_state(self, name, state, timeout=90):
        def reached():
            node = self.node(name)
            if node["provision_state"] == state:
                return node
            if node["provision_state"] in ("deploy failed", "error", "clean failed") \
                    and state != node["provision_state"]:
                raise AssertionError("node %s went to %s: %s\nagent log:\n%s\nserver "
                                     "log:\n%s" % (name, node["provision_state"],
                                                   node["last_error"],
                                                   self.agent_log(name)[-3000:],
                                                   self.server.log()[-3000:]))
            return None
        try:
            return wait_for(reached, timeout=timeout, interval=0.2,
                            message="node %s in %s" % (name, state))
        except AssertionError as exc:
            if "timed out" not in str(exc):
                raise
            node = self.node(name)
            raise AssertionError("%s; it is in %s (%s)\nagent log:\n%s\nserver log:\n%s"
                                 % (exc, node["provision_state"], node["last_error"],
                                    self.agent_log(name)[-3000:],
                                    self.server.log()[-4000:])) from None

    def agent_log(self, name):
        machine = self.machines.get(name)
        return machine.agent_log() if machine else ""

    def deploy(self, name, configdrive=None):
        body = {"target": "active"}
        if configdrive is not None:
            body["configdrive"] = configdrive
        status, resp = self.call("PUT", "/v1/nodes/%s/states/provision" % name, body,
                                 headers={"X-OpenStack-Ironic-API-Version": "1.56"})
        assert status == 202, resp
        return resp

    def deploy_slowly(self, name, marker):
        """Enroll machine ``name``, make it available and deploy it; the machine.

        Its image (4 MiB, ``marker`` inside) is served slowly: about 3 s of
        writing (64 KiB chunks, 0.05 s apart), so that the deploy waits in
        ``wait call-back`` a while, its agent writing.
        """
        url, digest, _ = self.add_image("%s.img" % name, size=4 * MiB, marker=marker,
                                        delay=0.05)
        machine, _ = self.add_machine(name, instance_info={
            "image_source": url, "image_os_hash_algo": "sha256",
            "image_os_hash_value": digest})
        self.make_available(name)
        self.deploy(name)
        return machine


def disk_prefix_sha256(machine, length):
    return images.sha256_of(machine.disk, length)


def files_in(path):
    found = []
    for root, _dirs, names in os.walk(path):
        found.extend(os.path.relpath(os.path.join(root, n), path) for n in names)
    return sorted(found)


@contextlib.contextmanager
def running(tmp_path, **options):
    """A started :class:`DeployEnv` (a test's ``env`` fixture); on leaving, its
    server must stop cleanly (exit 0), or the test fails with its log's end."""
    environment = DeployEnv(tmp_path, **options).start()
    try:
        yield environment
    except BaseException:
        environment.stop()  # a failed test leaves no server, agent or image server behind
        raise
    code = environment.stop()
    assert code == 0, environment.server.log()[-3000:]
