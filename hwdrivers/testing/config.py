"""hwdrivers' configuration at its defaults for one test, with private state.

:class:`ConfigFixture` parses no config file, puts ``state_path`` (the
SQLite database, the secrets key, consoles' logs) in a temporary directory,
and afterwards drops every override the test set, including per-hardware-type
groups and command profiles, so one test's options never leak into the next.
"""

import fixtures
from oslo_config import cfg

from hwdrivers import conf as hw_conf
from hwdrivers.conf import command_profile
from hwdrivers.drivers import factory
from hwdrivers.testing import processes

__all__ = ["ConfigFixture"]

CONF = hw_conf.CONF


class ConfigFixture(processes.Fixture):
    """CONF at its defaults; ``set(group__option=value, option=value)`` changes it.

    ``set(conductor__lease_duration=5)`` sets ``[conductor] lease_duration``;
    ``set(enabled_power_interfaces=[...])`` a ``[DEFAULT]`` option. Setting
    options forgets the loaded driver registry, so the next
    ``factory.get_registry()`` loads what the test enabled.

    :param state_path: the state directory (default: in a temporary one).
    """

    def __init__(self, state_path=None):
        super().__init__()
        self.state_path = state_path

    def _setUp(self):
        if self.state_path is None:
            self.state_path = self.useFixture(fixtures.TempDir()).join("state")
        self.useFixture(fixtures.EnvironmentVariable("HWDRIVERS_STATE_PATH",
                                                     self.state_path))
        CONF([], project="hwdrivers", default_config_files=[])
        CONF.set_override("state_path", self.state_path)
        factory.reset()
        self.addCleanup(self._reset)

    def set(self, **options):
        """Override options (``group__name=value``); returns nothing."""
        for key, value in options.items():
            group, _, name = key.rpartition("__")
            CONF.set_override(name, value, group=group or None)
        factory.reset()  # the next get_registry() sees the new options

    __call__ = set

    @staticmethod
    def _reset():
        factory.reset()
        command_profile.forget_registered(CONF)  # profiles a test defined without a file
        CONF.clear_override("state_path")
        CONF.reset()
        # Drop every override a test set, including per-hardware-type groups.
        for group_name in list(CONF.keys()):
            group = getattr(CONF, group_name)
            if isinstance(group, cfg.ConfigOpts.GroupAttr):
                for opt_name in list(group.keys()):
                    CONF.clear_override(opt_name, group=group_name)
            else:
                try:
                    CONF.clear_override(group_name)
                except cfg.NoSuchOptError:
                    pass
