"""Nodes behind one controller share one external controller key however
their driver_info spells the executable and the address.

The key was built from the raw text: ``mydriver`` and its absolute path (or
``mydriver `` with a stray space, or a path through ``..``), ``10.0.0.1``
and `` 10.0.0.1``, ``fe80::1`` and ``fe80:0::1`` or ``[fe80::1]`` all run
the same executable against the same controller, and each made its own
queue, so ``[external] max_concurrency = 1`` let a PDU that takes one
command at a time see several.
"""

import pytest

from hwdrivers.drivers.modules import external
from hwdrivers.drivers.task import StandaloneTask
from hwdrivers.testing import ConfigFixture

SCHEMA = ('{"fields": [{"name": "pdu_address", "field_type": "ip_address", "required": true},'
          ' {"name": "outlet", "type": "int"}]}')
VIRSH = ('{"ip_extractor": {"field_name": "uri",'
         ' "pattern": "^qemu\\\\+ssh://(?P<address>[^/]+)/"}, "fields": [{"name": "uri"}]}')


@pytest.fixture
def pdu(tmp_path):
    for name, schema in (("pdu", SCHEMA), ("virsh", VIRSH)):
        path = tmp_path / name
        path.write_text("#!/bin/sh\nprintf '%%s\\n' '%s'\n" % schema)
        path.chmod(0o755)
    external.clear_cache()
    with ConfigFixture() as config:
        config.set(enabled_hardware_types=["external"], enabled_power_interfaces=["external"],
                   enabled_management_interfaces=["noop"],
                   external__driver_paths=[str(tmp_path)])
        yield str(tmp_path)
    external.clear_cache()


def key(info):
    task = StandaloneTask.for_driver("external", info)
    return task.driver.power.controller_key(task)


def test_one_executable_spelt_several_ways_is_one_queue(pdu):
    keys = {key({"external_driver": name, "pdu_address": "10.0.0.1", "outlet": outlet})
            for outlet, name in enumerate(["pdu", "pdu ", "%s/pdu" % pdu,
                                           "%s/../%s/pdu" % (pdu, pdu.rsplit("/", 1)[1])])}
    assert keys == {"external:pdu:10.0.0.1"}


@pytest.mark.parametrize("spelling", [" 10.0.0.1", "10.0.0.1 ", "[fe80::1]", "fe80:0::1",
                                      "FE80::1"])
def test_one_address_spelt_several_ways_is_one_queue(pdu, spelling):
    canonical = "fe80::1" if ":" in spelling else "10.0.0.1"
    assert key({"external_driver": "pdu", "pdu_address": spelling}) == (
        key({"external_driver": "pdu", "pdu_address": canonical}))


def test_an_extracted_address_is_canonical_too(pdu):
    def uri(host):
        return key({"external_driver": "virsh", "uri": "qemu+ssh://%s/system" % host})
    assert uri("[fe80:0::1]") == uri("[fe80::1]") == "external:virsh:fe80::1"
    assert uri("virthost") == "external:virsh:virthost"


def test_an_executable_that_cannot_be_found_keeps_its_name(pdu):
    task = StandaloneTask.for_driver("external", {"external_driver": "nosuch"})
    assert task.driver.power.controller_key(task) == "external:nosuch:node-%s" % task.node.uuid
