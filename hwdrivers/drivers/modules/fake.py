"""fake-hardware's interfaces: state kept on the node, optional delays.

Delays (``[fake] power_delay = 0.1`` or ``0.05,0.2``) make each call sleep,
so scale tests and benchmarks can model slow BMCs without hardware.
"""

import random
import time


from hwdrivers.common import boot_devices
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conf import CONF
from hwdrivers.drivers import base
from hwdrivers.drivers import params



def parse_delay(text, option):
    """``"0.1"`` -> (0.1, 0.1); ``"0.05,0.2"`` -> (0.05, 0.2)."""
    try:
        parts = [float(p) for p in str(text).split(",")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or parts[0] < 0 or parts[1] < parts[0]:
        raise exception.ConfigInvalid(
            "[fake] %s = %r: use seconds (0.1) or a range low,high (0.05,0.2)"
            % (option, text), option="fake.%s" % option)
    return tuple(parts)


class _FakeDelay:
    """Sleeps for ``[fake] <kind>_delay`` on every call."""

    def _delay_option(self):
        return "%s_delay" % self.interface_type

    def check_config(self):
        option = self._delay_option()
        parse_delay(getattr(CONF.fake, option), option)

    def sleep(self):
        option = self._delay_option()
        low, high = parse_delay(getattr(CONF.fake, option), option)
        if high > 0:
            time.sleep(low if low == high else random.uniform(low, high))


class FakePower(_FakeDelay, base.PowerInterface):
    """Power state lives in ``task.node.power_state``.

    It accepts stand-ins for BMC credentials, so demos and tests exercise
    validation and secret masking exactly as with real hardware.
    """

    config_group = "fake"
    driver_info_schema = params.Schema(
        params.Param("fake_address", "Stand-in BMC address (not contacted)",
                     type="address"),
        params.Param("fake_username", "Stand-in BMC user name"),
        params.Param("fake_password", "Stand-in BMC password", secret=True),
        params.Param("fake_controller", "Name of a simulated shared controller (a PDU, "
                     "a chassis); nodes naming the same one queue behind [fake] "
                     "max_concurrency and min_command_interval"),
    )

    def controller_key(self, task):
        name = (task.node.driver_info or {}).get("fake_controller")
        return "fake:%s" % name if name else None

    def get_power_state(self, task):
        self.sleep()
        state = task.node.power_state
        return PowerState.parse(state) if state else PowerState.OFF

    def set_power_state(self, task, power_state, timeout=None):
        self.sleep()
        power_state = PowerState.parse(power_state)
        if power_state not in self.get_supported_power_states(task):
            raise exception.InvalidPowerState(
                "Node %s: fake power cannot set %s" % (task.node.uuid, power_state))
        task.node.power_state = power_state.resting.value

    def reboot(self, task, timeout=None):
        self.set_power_state(task, PowerState.REBOOT, timeout)

    power_states = (PowerState.ON, PowerState.OFF, PowerState.REBOOT,
                    PowerState.SOFT_REBOOT, PowerState.SOFT_OFF)


class FakeManagement(_FakeDelay, base.ManagementInterface):
    """Boot device lives in ``task.node.boot_device`` / ``boot_device_persistent``."""

    def get_supported_boot_devices(self, task):
        return list(boot_devices.ALL)

    def set_boot_device(self, task, device, persistent=False):
        self.sleep()
        if device not in boot_devices.ALL:
            raise exception.InvalidBootDevice(
                "Node %s: boot device %r is not supported; use one of: %s"
                % (task.node.uuid, device, ", ".join(boot_devices.ALL)))
        task.node.boot_device = device
        task.node.boot_device_persistent = bool(persistent)

    def get_boot_device(self, task):
        self.sleep()
        return {"boot_device": task.node.boot_device,
                "persistent": task.node.boot_device_persistent}

    def get_sensors_data(self, task):
        self.sleep()
        return {"Temperature": {"Inlet Temp (0x1)": {
            "Sensor Reading": "21 (+/- 1) degrees C", "Sensor ID": "Inlet Temp (0x1)",
            "Status": "ok"}}}

    def inject_nmi(self, task):
        self.sleep()


class FakeBoot(_FakeDelay, base.BootInterface):
    def prepare_ramdisk(self, task, ramdisk_params):
        self.sleep()

    def clean_up_ramdisk(self, task):
        self.sleep()

    def prepare_instance(self, task):
        self.sleep()

    def clean_up_instance(self, task):
        self.sleep()


class FakeDeploy(_FakeDelay, base.DeployInterface):
    def deploy(self, task):
        self.sleep()
        return None

    def tear_down(self, task):
        self.sleep()
        return None

    def prepare(self, task):
        self.sleep()

    def clean_up(self, task):
        self.sleep()

    def take_over(self, task):
        self.sleep()

    @base.deploy_step(priority=100)
    def write_image(self, task):
        """The fake image write: sleeps for [fake] deploy_delay."""
        self.sleep()

    @base.clean_step(priority=10, abortable=True)
    def erase_devices(self, task):
        """The fake disk erase: sleeps for [fake] deploy_delay."""
        self.sleep()


class FakeConsole(_FakeDelay, base.ConsoleInterface):
    def start_console(self, task):
        self.sleep()
        task.node.driver_internal_info = dict(
            task.node.driver_internal_info or {}, fake_console_enabled=True)

    def stop_console(self, task):
        self.sleep()
        task.node.driver_internal_info = dict(
            task.node.driver_internal_info or {}, fake_console_enabled=False)

    def get_console(self, task):
        return {"type": "fake", "url": "fake://%s" % task.node.uuid}


class FakeInspect(_FakeDelay, base.InspectInterface):
    def inspect_hardware(self, task):
        self.sleep()
        return None


class FakeRAID(_FakeDelay, base.RAIDInterface):
    def create_configuration(self, task, create_root_volume=True,
                             create_nonroot_volumes=True):
        self.sleep()

    def delete_configuration(self, task):
        self.sleep()


class FakeBIOS(_FakeDelay, base.BIOSInterface):
    def apply_configuration(self, task, settings):
        self.sleep()

    def factory_reset(self, task):
        self.sleep()

    def cache_bios_settings(self, task):
        self.sleep()


class FakeRescue(_FakeDelay, base.RescueInterface):
    def rescue(self, task):
        self.sleep()

    def unrescue(self, task):
        self.sleep()


class FakeVendor(_FakeDelay, base.VendorInterface):
    """Two passthru methods: one answered inline, one run in a worker."""

    @base.passthru(["GET", "POST"], async_call=False,
                   description="Echo the arguments back (synchronous).")
    def first_method(self, task, **kwargs):
        self.sleep()
        return {"node": task.node.uuid, "args": kwargs}

    @base.passthru(["POST"], async_call=True,
                   description="Record the call in driver_internal_info (asynchronous).")
    def second_method(self, task, **kwargs):
        self.sleep()
        task.node.driver_internal_info = dict(
            task.node.driver_internal_info or {}, fake_vendor_last_call=kwargs)
