"""Loading by entry point and the composition rules, including misconfiguration."""

import types

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import factory


def node(**fields):
    values = {"driver": "fake-hardware", "uuid": "n-1"}
    values.update(fields)
    return types.SimpleNamespace(**values)


def test_default_composition_is_first_supported_and_enabled():
    composition = factory.get_registry().compose(node())
    assert composition.power.name == "fake"
    assert composition.management.name == "fake"
    assert composition.interface_names["console"] == "fake"


def test_only_enabled_names_are_loaded(config):
    config(enabled_management_interfaces=["noop"], enabled_console_interfaces=["no-console"])
    registry = factory.get_registry()
    assert list(registry.interfaces["management"]) == ["noop"]
    assert registry.compose(node()).management.name == "noop"


def test_global_default_interface(config):
    config(default_management_interface="noop")
    assert factory.get_registry().compose(node()).management.name == "noop"


def test_per_hardware_type_default_overrides_global(config):
    config(default_management_interface="noop")
    from hwdrivers import conf
    conf.register_hardware_type_group(conf.CONF, "fake-hardware")
    config(**{"hardware_type:fake-hardware__default_management_interface": "fake"})
    assert factory.get_registry().compose(node()).management.name == "fake"


def test_node_interface_must_be_enabled_and_supported(config):
    config(enabled_hardware_types=["fake-hardware"], enabled_management_interfaces=["fake"])
    registry = factory.get_registry()
    with pytest.raises(exception.InterfaceNotAllowed) as info:
        registry.compose(node(management_interface="noop", console_interface="bogus"))
    message = str(info.value)
    assert "management_interface noop is not enabled" in message
    assert "console_interface bogus" in message  # every problem at once
    assert "valid: fake" in message


def test_unknown_hardware_type_lists_enabled():
    with pytest.raises(exception.DriverNotFound) as info:
        factory.get_registry().compose(node(driver="nope"))
    assert "fake-hardware" in str(info.value)
    assert "enabled_hardware_types" in str(info.value)


def test_name_without_entry_point_fails_at_load(config):
    config(enabled_power_interfaces=["fake", "no-such-power"])
    with pytest.raises(exception.DriverLoadError) as info:
        factory.get_registry()
    assert info.value.option == "[DEFAULT] enabled_power_interfaces"
    assert "no-such-power" in str(info.value)


def test_hardware_type_without_entry_point_fails_at_load(config):
    config(enabled_hardware_types=["fake-hardware", "imaginary"])
    with pytest.raises(exception.DriverLoadError) as info:
        factory.get_registry()
    assert info.value.option == "[DEFAULT] enabled_hardware_types"


def test_no_enabled_power_for_enabled_type_fails_at_load(config):
    config(enabled_power_interfaces=[])
    with pytest.raises(exception.ConfigInvalid) as info:
        factory.get_registry()
    assert info.value.option == "[DEFAULT] enabled_power_interfaces"
    assert "fake-hardware" in str(info.value)


def test_default_not_supported_by_type_fails_at_load(config):
    config(enabled_hardware_types=["fake-hardware"], default_boot_interface="noop",
           enabled_boot_interfaces=["fake"])
    with pytest.raises(exception.ConfigInvalid) as info:
        factory.get_registry()
    assert info.value.option == "[DEFAULT] default_boot_interface"


def test_duplicate_names_in_option_fail(config):
    config(enabled_power_interfaces=["fake", "fake"])
    with pytest.raises(exception.ConfigInvalid) as info:
        factory.get_registry()
    assert "more than once" in str(info.value)


def test_bad_fake_delay_fails_at_load_naming_option(config):
    config(fake__power_delay="slow")
    with pytest.raises(exception.ConfigInvalid) as info:
        factory.get_registry()
    assert "power_delay" in str(info.value)


def test_declaring_hardware_type_imports_no_driver_library():
    import subprocess
    import sys
    code = ("import sys; from hwdrivers.drivers import hardware_type, fake_hardware; "
            "heavy = [m for m in ('sushy', 'pysnmp', 'pyghmi') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_describe_and_properties():
    registry = factory.get_registry()
    info = registry.describe("fake-hardware")
    assert info["default_power_interface"] == "fake"
    assert "noop" in info["enabled_management_interfaces"]
    assert set(registry.properties("fake-hardware")) >= {"power", "management"}


def test_entry_point_that_fails_to_import_says_so(config, monkeypatch):
    import stevedore

    real = stevedore.NamedExtensionManager

    def broken(namespace, names, **kwargs):
        manager = real(namespace, [], **kwargs)
        if namespace.endswith(".power") and "fake" in names:
            ep = type("EP", (), {"name": "fake"})()
            kwargs["on_load_failure_callback"](manager, ep, ImportError("No module named x"))
            kwargs["on_missing_entrypoints_callback"](["fake"])
            return manager
        return real(namespace, names, **kwargs)

    monkeypatch.setattr(stevedore, "NamedExtensionManager", broken)
    with pytest.raises(exception.DriverLoadError) as info:
        factory.get_registry()
    assert "ImportError: No module named x" in str(info.value)
    assert "no entry point" not in str(info.value)


# -- per-node declarations and masking ---------------------------------------------

def _count_schema_calls(monkeypatch):
    """kind/name -> how often masking asked that implementation for a node's schema."""
    from hwdrivers.drivers.modules import command, console_command, external
    asked = {}
    for cls in (external.ExternalPower, external.ExternalManagement, command.CommandPower,
                console_command.CommandConsole):
        real = cls.driver_info_schema_for

        def counted(self, driver_info, real=real):
            key = "%s %s" % (self.interface_type, self.name)
            asked[key] = asked.get(key, 0) + 1
            return real(self, driver_info)

        monkeypatch.setattr(cls, "driver_info_schema_for", counted)
    return asked


def test_masking_asks_a_per_node_declaration_only_for_nodes_with_its_keys(monkeypatch):
    from hwdrivers.drivers import params
    registry = factory.get_registry()
    asked = _count_schema_calls(monkeypatch)
    ipmi = {"ipmi_address": "10.0.0.9", "ipmi_username": "admin", "ipmi_password": "pw"}
    assert registry.mask(ipmi) == dict(ipmi, ipmi_password=params.MASK)
    assert registry.node_secret_names(ipmi) == set()
    assert asked == {}  # no external_driver, no command field: nothing to ask
    # An external driver whose executable cannot be read: all its other fields
    # are secret, so this node is asked, by the external interfaces only.
    unreadable = {"external_driver": "/nonexistent/driver", "token": "t", "host": "h"}
    assert registry.mask(unreadable) == {"external_driver": "/nonexistent/driver",
                                         "token": params.MASK, "host": params.MASK}
    assert asked == {"power external": 1, "management external": 1}
    asked.clear()
    # A command field (even an empty one) is enough for the command interfaces.
    registry.mask({"command_power_on": "", "command_secret": "s"})
    assert asked == {"power command": 1, "console command": 1}


def test_a_broken_depends_on_promise_is_refused_at_load(monkeypatch):
    """A declaration that adds a secret for a node without the keys fails to load."""
    from hwdrivers.drivers import params
    from hwdrivers.drivers.modules import command
    real = command.CommandPower.driver_info_schema_for

    def leaky(self, driver_info):
        return real(self, driver_info) + params.Schema(
            params.Param("api_token", "A token", secret=True))

    monkeypatch.setattr(command.CommandPower, "driver_info_schema_for", leaky)
    with pytest.raises(exception.DriverLoadError) as info:
        factory.Registry()
    message = str(info.value)
    del info  # its traceback holds this frame: no cycle may keep a registry alive
    assert "power interface command" in message and "api_token" in message
    assert "[DEFAULT] enabled_power_interfaces" in message
    assert "driver_info_schema_depends_on = None" in message
    # Without the promise, the same declaration loads and is asked for every node.
    monkeypatch.setattr(command.CommandPower, "driver_info_schema_depends_on", None)
    # Not kept in a local: a live registry stays among secrets' per-node sources.
    assert factory.Registry().mask({"api_token": "x"}) == {"api_token": params.MASK}


def test_interfaces_loaded_elsewhere_are_always_asked(monkeypatch):
    """A composition from another registry: its per-node interfaces, unchecked here."""
    from hwdrivers.drivers import params
    from hwdrivers.drivers.modules import external
    ours, theirs = factory.get_registry(), factory.Registry()
    composition = theirs.compose(node(driver="external"))
    asked = _count_schema_calls(monkeypatch)
    ipmi = {"ipmi_address": "10.0.0.9", "ipmi_password": "pw"}
    assert ours.mask(ipmi, composition) == dict(ipmi, ipmi_password=params.MASK)
    assert asked == {"power external": 1, "management external": 1}
    # Theirs, like ours, may declare more than its static schema for such a
    # node (a promise only its own registry checked): what it declares is masked.
    monkeypatch.setattr(external.ExternalPower, "driver_info_schema_for",
                        lambda self, info: params.Schema(params.Param("ipmi_address", "x",
                                                                      secret=True)))
    assert ours.mask(ipmi, composition)["ipmi_address"] == params.MASK


def test_a_declaration_that_raises_masks_everything_and_names_the_plugin(monkeypatch, caplog):
    """A plugin's driver_info_schema_for may not raise, but one does: masking
    shows no field, and validation and sealing say which plugin failed and
    where -- never the exception's text, which here quotes a secret."""
    from hwdrivers.drivers import params
    from hwdrivers.drivers.modules import command

    def broken(self, driver_info):
        raise ValueError("cannot parse %s" % driver_info.get("pdu_password"))

    monkeypatch.setattr(command.CommandPower, "driver_info_schema_for", broken)
    with pytest.raises(exception.DriverError) as info:
        factory.Registry()  # asked at load, for a node without driver_info
    message = str(info.value)
    del info
    assert "power interface command (hwdrivers.drivers.modules.command.CommandPower)" \
        in message and "ValueError at " in message and "test_factory.py" in message

    monkeypatch.setattr(command.CommandPower, "driver_info_schema_depends_on", None)
    monkeypatch.setattr(command.CommandPower, "driver_info_schema_for",
                        lambda self, info: broken(self, info) if info else params.EMPTY)
    registry = factory.Registry()
    info_with_secret = {"pdu_host": "pdu1", "pdu_password": "hunter2-secret"}
    with caplog.at_level("ERROR"):
        for _ in range(3):
            assert registry.mask(info_with_secret) == {"pdu_host": params.MASK,
                                                       "pdu_password": params.MASK}
    logged = [r.getMessage() for r in caplog.records if "Masking every" in r.getMessage()]
    assert len(logged) == 1 and "hunter2" not in logged[0]  # once per plugin, no secret
    with pytest.raises(exception.DriverError) as info:
        registry.node_secret_names(info_with_secret)
    assert "hunter2" not in str(info.value) and "plugin" in str(info.value)
    composition = registry.compose(node(driver="command"))
    with pytest.raises(exception.DriverError):
        composition.schema_for(info_with_secret)
