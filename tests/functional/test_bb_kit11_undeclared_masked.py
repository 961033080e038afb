"""driver_info keys that no interface declares are masked, and sealed at rest.

Masking and encryption at rest followed declarations only. A node moved to
another external executable (``--driver-info external_driver=other``,
accepted: only changed keys are checked), or whose executable's upgrade
renamed its password field, kept the old password under a key nothing
declared any more, and ``node show`` printed it in clear; so did a key
stored under ``[api] unknown_driver_info = warn``. What nothing declares is
now taken as secret: masked in every view, and on an external node sealed at
rest too.
"""

from hwdrivers.common import context as hw_context
from hwdrivers.common import secrets
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers import factory

CTX = hw_context.get_admin_context()


def test_a_secret_the_new_executable_does_not_declare_stays_masked(external_drivers):
    registry = factory.get_registry()
    info = dict(external_drivers.py_info("m1"), external_driver="shdriver")
    masked = registry.mask(info)
    assert masked["power_pass"] == "******"  # pydriver's, shdriver declares no such field
    assert masked["machine"] == "******"  # not a secret, but nothing says so now
    assert masked["external_driver"] == "shdriver"


def test_the_undeclared_secret_of_an_external_node_stays_sealed(external_drivers):
    factory.get_registry()  # declares what it seals
    info = dict(external_drivers.py_info("m1"), external_driver="shdriver")
    assert {"power_pass", "machine"} <= secrets.secret_fields(info)


def test_an_unknown_key_stored_in_warn_mode_is_masked(sqlite_database, config):
    config(api__unknown_driver_info="warn")
    manager = manager_mod.ConductorManager()
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "w1",
                              "driver_info": {"ironic_bmc_secret": "hunter2"}})
    view = manager.node_view(manager.get_node(CTX, "w1"))
    assert view["driver_info"]["ironic_bmc_secret"] == "******"
    assert db_api.get_node("w1")["driver_info"]["ironic_bmc_secret"] == "hunter2"
