"""The machine simulator (:mod:`.simulator`) as a fixture: a machine that boots.

:class:`MachineFixture` creates one powered-off machine with an empty
sparse disk in a directory of its own, and powers it off afterwards, which
stops the ramdisk (``hwdrivers-agent``) it may have booted and everything
that started. A node drives it through the ``sim`` hardware type with
``driver_info`` ``{"sim_path": machine.path}`` (``.driver_info()``).
"""

import fixtures

from hwdrivers.testing import processes
from hwdrivers.testing import simulator

__all__ = ["MachineFixture"]

GiB = 1024 ** 3


class MachineFixture(processes.Fixture):
    """A simulated machine: ``.machine`` (a :class:`~.simulator.Machine`).

    :param macs: its NICs' MAC addresses.
    :param disk_size: bytes of its (sparse) disk.
    :param boot_url: where its network boot fetches ``boot.ipxe`` (the
        service's ``/boot/boot.ipxe``); None: it cannot network boot.
    :param directory: where it lives (default: a temporary directory).
    Other keyword arguments are :meth:`.simulator.Machine.create`'s.
    """

    def __init__(self, macs=("52:54:00:12:34:56",), disk_size=GiB, boot_url=None,
                 directory=None, **options):
        super().__init__()
        self.macs = list(macs)
        self.disk_size = disk_size
        self.boot_url = boot_url
        self.directory = directory
        self.options = options

    def _setUp(self):
        directory = self.directory or self.useFixture(fixtures.TempDir()).join("machine")
        self.machine = simulator.Machine.create(directory, self.macs, self.disk_size,
                                                boot_url=self.boot_url, **self.options)
        self.addCleanup(self.machine.power_off)

    def driver_info(self, **extra):
        """driver_info of a ``sim`` node that is this machine."""
        return dict({"sim_path": self.machine.path}, **extra)
