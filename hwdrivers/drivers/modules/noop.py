"""Implementations for machines that lack a capability.

``noop`` boot and deploy accept every call and do nothing: the machine
boots whatever its boot device points at, prepared outside hwdrivers.
``noop`` management reports no boot device and refuses to set one (a PDU
outlet has no notion of it). The ``no-<kind>`` optional interfaces refuse
every call with :class:`UnsupportedDriverExtension`, so the API can say
"not supported" instead of failing obscurely.
"""

from hwdrivers.drivers import base


class NoopBoot(base.BootInterface):
    #: Nothing puts a ramdisk in front of the machine: the ``direct`` deploy and
    #: ``agent`` inspection refuse this interface (boot_files.require_ramdisk_boot).
    boots_ramdisk = False

    def prepare_ramdisk(self, task, ramdisk_params):
        pass

    def clean_up_ramdisk(self, task):
        pass

    def prepare_instance(self, task):
        pass

    def clean_up_instance(self, task):
        pass


class NoopDeploy(base.DeployInterface):
    def deploy(self, task):
        return None

    def tear_down(self, task):
        return None

    def prepare(self, task):
        pass

    def clean_up(self, task):
        pass

    def take_over(self, task):
        pass


class NoopManagement(base.ManagementInterface):
    def get_supported_boot_devices(self, task):
        return []

    def set_boot_device(self, task, device, persistent=False):
        raise self.unsupported(task, "setting the boot device")

    def get_boot_device(self, task):
        return {"boot_device": None, "persistent": None}


class _Refuses:
    """Mixin: validate and every abstract method refuse with a clear error."""

    def validate(self, task, *args, **kwargs):
        raise self.unsupported(task, "%s operations" % self.interface_type)


def _refusing(interface_cls, name):
    """A no-<kind> class: each abstract method raises UnsupportedDriverExtension."""
    def make(method):
        def refuse(self, task, *args, **kwargs):
            raise self.unsupported(task, method.replace("_", " "))
        refuse.__name__ = method
        return refuse

    namespace = {m: make(m) for m in interface_cls.__abstractmethods__}
    namespace["__doc__"] = "Refuses every %s operation." % interface_cls.interface_type
    namespace["__module__"] = __name__
    return type(name, (_Refuses, interface_cls), namespace)


NoConsole = _refusing(base.ConsoleInterface, "NoConsole")
NoInspect = _refusing(base.InspectInterface, "NoInspect")
NoRAID = _refusing(base.RAIDInterface, "NoRAID")
NoBIOS = _refusing(base.BIOSInterface, "NoBIOS")
NoRescue = _refusing(base.RescueInterface, "NoRescue")


class NoVendor(_Refuses, base.VendorInterface):
    """No vendor methods."""
