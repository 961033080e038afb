"""conformance.enable with a plugin an author is still writing.

The plugin is a real distribution (a ``.dist-info`` with entry points and
its module, put on ``sys.path``), found through importlib.metadata as an
installed package would be: one whose module does not import, and one
whose hardware type forgot a required kind. Each must fail with an
AssertionError naming the hardware type and what to fix, not an
IndexError or a bare ImportError.
"""

import importlib
import sys
import textwrap

import pytest

from hwdrivers.testing import conformance

MODULE = textwrap.dedent('''
    from hwdrivers.drivers import hardware_type


    class NoBoot(hardware_type.AbstractHardwareType):
        supported_power_interfaces = ("fake",)
        supported_management_interfaces = ("noop",)
        supported_deploy_interfaces = ("noop",)
    ''')


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "bbkit_plugin.py").write_text(MODULE)
    (tmp_path / "bbkit_broken.py").write_text("import bbkit_no_such_module\n")
    info = tmp_path / "bbkit_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bbkit-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[hwdrivers.hardware.types]\nbbkit-noboot = bbkit_plugin:NoBoot\n"
        "bbkit-broken = bbkit_broken:Broken\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield
    for name in ("bbkit_plugin", "bbkit_broken"):
        sys.modules.pop(name, None)


def test_a_hardware_type_without_a_required_kind_is_named(plugin):
    with pytest.raises(AssertionError, match="bbkit-noboot.*no boot interface.*"
                                             "supported_boot_interfaces"):
        conformance.check_power("bbkit-noboot", {})


def test_a_plugin_that_does_not_import_is_named(plugin):
    with pytest.raises(AssertionError, match="bbkit-broken.*bbkit_broken:Broken.*"
                                             "ModuleNotFoundError.*bbkit_no_such_module"):
        conformance.check_power("bbkit-broken", {})
