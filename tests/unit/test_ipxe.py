"""Boot interface ipxe, deploy interface direct's checks, config drives and the iPXE reader.

The end-to-end behaviour is in tests/functional/test_deploy*.py; these pin
what each piece writes and refuses, with the simulator's iPXE reader
following the scripts ipxe writes.
"""

import base64
import gzip
import json
import os
import types

import pytest

from hwdrivers.common import exception
from hwdrivers.common import node_secrets
from hwdrivers.conductor import deployments
from hwdrivers.drivers import base
from hwdrivers.drivers.modules import configdrive
from hwdrivers.drivers.modules import direct
from hwdrivers.drivers.modules import ipxe
from hwdrivers.testing import ipxe_script

MAC = "52:54:00:12:34:56"


class _Management(base.ManagementInterface):
    def __init__(self):
        super().__init__()
        self.calls = []

    def get_supported_boot_devices(self, task):
        return ["pxe", "disk"]

    def set_boot_device(self, task, device, persistent=False):
        self.calls.append((device, persistent))

    def get_boot_device(self, task):
        return {"boot_device": None, "persistent": None}


def _task(tmp_path, driver_info=None, ports=(MAC,), instance_info=None):
    node = types.SimpleNamespace(
        uuid="4b4e1f51-7d42-4a0e-9b59-0c5a3f4b6a11", name="n1", ident="n1",
        driver_info=dict({"deploy_kernel": "http://images/k",
                          "deploy_ramdisk": str(tmp_path / "initrd")}, **(driver_info or {})),
        instance_info=instance_info or {}, driver_internal_info={})
    (tmp_path / "initrd").write_bytes(b"initrd")
    management = _Management()
    return types.SimpleNamespace(
        node=node, ports=[{"address": m} for m in ports], logger=types.SimpleNamespace(
            info=lambda *a: None, warning=lambda *a: None),
        driver=types.SimpleNamespace(management=management, boot=ipxe.IPXEBoot()))


@pytest.fixture
def boot_conf(config, tmp_path):
    config(deploy__http_root=str(tmp_path / "httpboot"),
           deploy__http_url="http://10.0.0.1:8080/boot",
           deploy__api_url="http://10.0.0.1:6385",
           deploy__local_file_allowed_paths=[str(tmp_path)])
    return tmp_path / "httpboot"


def test_prepare_ramdisk_writes_a_script_per_mac_that_ipxe_follows(tmp_path, boot_conf):
    task = _task(tmp_path)
    ipxe.IPXEBoot().prepare_ramdisk(task, {})
    assert task.driver.management.calls == [("pxe", False)]
    files = {}
    for root, _dirs, names in os.walk(boot_conf):
        for name in names:
            files[os.path.relpath(os.path.join(root, name), boot_conf)] = open(
                os.path.join(root, name), "rb").read()
    assert sorted(files) == ["%s/config" % task.node.uuid, "%s/deploy_ramdisk" % task.node.uuid,
                             "%s/macs" % task.node.uuid, "boot.ipxe",
                             "pxelinux.cfg/52-54-00-12-34-56"]
    # The simulator's iPXE reader follows the chain as firmware would.
    served = {"http://10.0.0.1:8080/boot/" + name: data for name, data in files.items()}
    served["http://images/k"] = b"kernel"
    interp = ipxe_script.Interpreter(MAC, served.__getitem__)
    image = interp.run_url("http://10.0.0.1:8080/boot/boot.ipxe")
    assert image.kernel == "http://images/k"
    assert image.initrds == ["http://10.0.0.1:8080/boot/%s/deploy_ramdisk" % task.node.uuid]
    args = dict(a.split("=", 1) for a in image.cmdline.split() if "=" in a)
    assert args["ipa-api-url"] == "http://10.0.0.1:6385"
    assert args["BOOTIF"] == "01-52-54-00-12-34-56"
    assert args["ipa-node-uuid"] == task.node.uuid
    assert "token" not in image.cmdline


def test_unknown_mac_exits_to_the_next_boot_device(tmp_path, boot_conf):
    ipxe.write_boot_script()
    script = (boot_conf / "boot.ipxe").read_bytes()

    def fetch(url):
        if url.endswith("boot.ipxe"):
            return script
        raise OSError("404")
    interp = ipxe_script.Interpreter("52:54:00:99:99:99", fetch)
    assert interp.run_url("http://10.0.0.1:8080/boot/boot.ipxe") is None


def test_prepare_instance_boots_the_disk_and_removes_the_scripts(tmp_path, boot_conf):
    task = _task(tmp_path)
    boot = ipxe.IPXEBoot()
    boot.prepare_ramdisk(task, {})
    boot.prepare_instance(task)
    assert task.driver.management.calls[-1] == ("disk", True)
    assert os.listdir(boot_conf / "pxelinux.cfg") == []
    assert not (boot_conf / task.node.uuid).exists()


def test_prepare_ramdisk_without_ports_or_with_a_missing_file_says_so(tmp_path, boot_conf):
    with pytest.raises(exception.DriverSettingsError, match="port"):
        ipxe.IPXEBoot().prepare_ramdisk(_task(tmp_path, ports=()), {})
    task = _task(tmp_path, driver_info={"deploy_ramdisk": str(tmp_path / "nope")})
    with pytest.raises(exception.DriverSettingsError, match="deploy_ramdisk"):
        ipxe.IPXEBoot().prepare_ramdisk(task, {})


def test_local_files_only_from_allowed_directories(tmp_path, boot_conf, config):
    """They are served without authentication: no API user may name /etc/shadow."""
    outside = tmp_path.parent / ("outside-%s" % tmp_path.name)
    outside.mkdir()
    (outside / "secret").write_text("s3cret")
    os.symlink(outside / "secret", tmp_path / "link-to-secret")
    for path in (str(outside / "secret"), "file://" + str(outside / "secret"),
                 str(tmp_path / "link-to-secret"), str(tmp_path / ".." / outside.name)):
        task = _task(tmp_path, driver_info={"deploy_ramdisk": path})
        with pytest.raises(exception.DriverSettingsError, match="local_file_allowed_paths"):
            ipxe.IPXEBoot().validate(task)
        with pytest.raises(exception.DriverSettingsError, match="local_file_allowed_paths"):
            ipxe.IPXEBoot().prepare_ramdisk(task, {})
    assert not (boot_conf / "pxelinux.cfg").exists() or \
        os.listdir(boot_conf / "pxelinux.cfg") == []
    config(deploy__local_file_allowed_paths=[])
    with pytest.raises(exception.DriverSettingsError, match="not accepted"):
        ipxe.IPXEBoot().validate(_task(tmp_path))


def test_validate_names_missing_fields_and_ports(tmp_path, boot_conf):
    task = _task(tmp_path, ports=())
    task.node.driver_info.pop("deploy_kernel")
    with pytest.raises(exception.InvalidParameterValue, match="deploy_kernel"):
        ipxe.IPXEBoot().validate(task)
    task = _task(tmp_path, ports=())
    with pytest.raises(exception.MissingParameterValue, match="port"):
        ipxe.IPXEBoot().validate(task)
    task = _task(tmp_path, driver_info={"deploy_kernel": "relative/k"})
    with pytest.raises(exception.InvalidParameterValue, match="deploy_kernel"):
        ipxe.IPXEBoot().validate(task)


def test_wildcard_api_host_without_api_url_is_a_clear_settings_error(tmp_path, config):
    config(api__host="0.0.0.0", deploy__http_root=str(tmp_path / "h"))
    with pytest.raises(exception.DriverSettingsError, match=r"\[deploy\] http_url"):
        ipxe.IPXEBoot().prepare_ramdisk(_task(tmp_path), {})


@pytest.mark.parametrize("info, words", [
    ({}, ["image_source is missing", "no checksum"]),
    ({"image_source": "ftp://x/i.img", "image_checksum": "a" * 64}, ["http(s) URL"]),
    ({"image_source": "http://x/i", "image_os_hash_algo": "crc32",
      "image_os_hash_value": "a"}, ["image_os_hash_algo", "sha256"]),
    ({"image_source": "http://x/i", "image_os_hash_algo": "sha256"},
     ["image_os_hash_value is missing"]),
    ({"image_source": "http://x/i", "image_checksum": "a" * 64,
      "image_disk_format": "vmdk"}, ["vmdk", "raw, qcow2"]),
    ({"image_source": "http://x/i", "image_checksum": "a" * 64, "root_gb": "ten"},
     ["root_gb"]),
])
def test_direct_validate_lists_every_instance_info_problem(info, words):
    errors = "; ".join(direct.instance_info_errors(info))
    for word in words:
        assert word in errors


def test_image_info_for_the_agent():
    task = types.SimpleNamespace(node=types.SimpleNamespace(
        uuid="n-1", driver_info={}, instance_info={
            "image_source": "http://x/images/web.img", "image_os_hash_algo": "sha512",
            "image_os_hash_value": "ab", "image_disk_format": "qcow2", "root_gb": "10"}))
    assert direct.image_info(task) == {
        "id": "web.img", "urls": ["http://x/images/web.img"], "image_type": "whole-disk",
        "stream_raw_images": True, "node_uuid": "n-1",
        "os_hash_algo": "sha512", "os_hash_value": "ab", "disk_format": "qcow2",
        "root_gb": 10}


def test_configdrive_dict_becomes_a_config_2_iso():
    meta = {"uuid": "u", "hostname": "h"}
    blob = configdrive.normalise({"meta_data": meta, "user_data": "#cloud-config\n",
                                  "network_data": {"links": []}})
    files = configdrive.read_iso(gzip.decompress(base64.b64decode(blob)))
    assert files["<label>"] == b"config-2"
    assert json.loads(files["openstack/latest/meta_data.json"]) == meta
    assert files["openstack/latest/user_data"] == b"#cloud-config\n"
    assert json.loads(files["openstack/latest/network_data.json"]) == {"links": []}
    # a blob or URL passes through untouched
    assert configdrive.normalise(blob) == blob
    assert configdrive.normalise("https://x/cd.gz") == "https://x/cd.gz"


@pytest.mark.parametrize("value, words", [
    ({"meta_data": "x"}, ["meta_data", "JSON object"]),
    ({"metadata": {}}, ["metadata", "meta_data"]),
    ({"user_data": 5}, ["user_data"]),
    ("not-a-blob", ["configdrive", "gzip"]),
    (["a"], ["configdrive"]),
])
def test_bad_configdrive_is_refused_naming_the_field(value, words):
    with pytest.raises(exception.InvalidParameterValue) as caught:
        configdrive.normalise(value)
    for word in words:
        assert word in str(caught.value)


def test_agent_token_and_configdrive_are_masked_in_views():
    values = {"driver_internal_info": {"agent_secret_token": "s3cret", "agent_url": "u"},
              "instance_info": {"configdrive": "H4sI...", "image_source": "http://x"}}
    masked = node_secrets.mask(values)
    assert masked["driver_internal_info"] == {"agent_secret_token": "******",
                                              "agent_url": "u"}
    assert masked["instance_info"]["configdrive"] == "******"
    assert values["driver_internal_info"]["agent_secret_token"] == "s3cret"  # a copy


def test_timeouts_name_the_step(config):
    config(deploy__callback_timeout=10, deploy__image_download_timeout=100)
    steps = [{"interface": "deploy", "step": "deploy", "priority": 100},
             {"interface": "deploy", "step": "write_image", "priority": 80}]
    booting = {"deploy_steps": steps, "deploy_step_index": 0, "wait_started_at": 1000.0}
    assert deployments._timed_out(booting, 1005.0) is None
    reason = deployments._timed_out(booting, 1011.0)
    assert "deploy.deploy" in reason and "callback_timeout = 10" in reason
    assert "ramdisk to boot" in reason
    writing = {"deploy_steps": steps, "deploy_step_index": 1, "wait_started_at": 1000.0,
               "agent_last_heartbeat": 1190.0,
               "agent_command": {"id": "c", "name": "prepare_image", "started_at": 1000.0}}
    reason = deployments._timed_out(writing, 1195.0)
    assert "deploy.write_image" in reason and "image_download_timeout = 100" in reason
