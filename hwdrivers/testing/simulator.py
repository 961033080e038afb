"""A simulated machine that boots for real: network, virtual media or disk.

A machine is a directory: ``machine.json`` (its MAC addresses, where its
"DHCP" points iPXE — ``boot_url`` — extra agent flags and environment, and
``redfish``: the emulator system that is its BMC, for virtual media),
``disk.img`` (a sparse
file: its disk) and ``state.json`` (power, boot device, what it booted).
Any process can drive it: the ``sim`` power and management interfaces
(sim_driver.py) read and write the same files.

Power on boots from the boot device (a one-time device first):

* ``pxe``: fetch ``boot_url`` (``boot.ipxe``) over HTTP, follow the iPXE
  chain to the node's script (ipxe_script.py), fetch its kernel and
  initrd, and start ``hwdrivers-agent`` as a real process on 127.0.0.1 with
  the script's kernel command line and ``disk.img`` as its root device;
* ``cdrom``: ask its BMC (sushy-tools' Redfish emulator) what its virtual CD
  holds, download that ISO, read ISOLINUX's ``isolinux.cfg`` in it and start
  the agent the same way with its ``append`` line;
* ``disk``: look at ``disk.img`` and record what booted: the image's marker
  (a ``HWSIM-BOOT:<text>`` line in its first MiBs), or ``no bootable image``.

While the ramdisk runs, the machine is on exactly as long as the agent
process lives (its ``standby.power_off`` ends the process: the machine is
off). Power off stops the agent's whole process group. Nothing on the
deploy side knows it talks to a simulator.
"""

import base64
import contextlib
import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from hwdrivers.drivers.modules import boot_iso
from hwdrivers.testing import ipxe_script

MARKER = b"HWSIM-BOOT:"
NO_BOOTABLE_IMAGE = "no bootable image"
MiB = 1024 * 1024
#: how much of the disk the marker is looked for in
MARKER_SCAN = 16 * MiB
BOOT_DEVICES = ("pxe", "disk", "cdrom")

_PROCS: dict[int, subprocess.Popen] = {}
_PROCS_LOCK = threading.Lock()
_BOOTS: dict[str, threading.Event] = {}


def agent_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "hwdrivers-agent")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "hwdrivers.agent.cmd"]


def _fetch(url: str, timeout: float = 30.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def _alive(pid: int) -> bool:
    with _PROCS_LOCK:
        proc = _PROCS.get(pid)
    if proc is not None:
        return proc.poll() is None
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group ``pid`` leads, SIGKILL what is left after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if not _alive(pid):
            break
    with _PROCS_LOCK:
        proc = _PROCS.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def _virtual_cd(bmc: dict) -> dict:
    """The system's virtual CD as the Redfish service shows it (Image, Inserted...)."""
    token = base64.b64encode(("%s:%s" % (bmc["username"], bmc["password"])).encode())
    headers = {"Authorization": "Basic " + token.decode(), "Accept": "application/json"}

    def get(path: str) -> dict:
        request = urllib.request.Request(bmc["url"].rstrip("/") + path, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.load(resp)
    collection = get("/redfish/v1/Systems/%s/VirtualMedia" % bmc["system"])
    for member in collection.get("Members", []):
        media = get(member["@odata.id"])
        if set(media.get("MediaTypes") or []) & {"CD", "DVD"}:
            return media
    raise RuntimeError("the BMC's system %s has no virtual CD" % bmc["system"])


def _isolinux_image(config: str, source: str) -> ipxe_script.BootImage:
    """What ISOLINUX would boot from an isolinux.cfg's first label."""
    kernel, append = None, ""
    for line in config.splitlines():
        words = line.strip().split(None, 1)
        if len(words) == 2 and words[0].lower() == "kernel" and kernel is None:
            kernel = words[1]
        elif len(words) == 2 and words[0].lower() == "append" and not append:
            append = words[1]
    if kernel is None:
        raise RuntimeError("isolinux.cfg of %s names no kernel" % source)
    args = append.split()
    initrds = [a.split("=", 1)[1] for a in args if a.startswith("initrd=")]
    cmdline = " ".join(a for a in args if not a.startswith("initrd="))
    return ipxe_script.BootImage("%s!%s" % (source, kernel), initrds, cmdline)


def inspect_disk(path: str) -> str:
    """What firmware would boot from ``path``: the image's marker, or NO_BOOTABLE_IMAGE."""
    with open(path, "rb") as disk:
        head = disk.read(MARKER_SCAN)
    if len(head) < 512 or head[510:512] != b"\x55\xaa":
        return NO_BOOTABLE_IMAGE
    at = head.find(MARKER)
    if at < 0:
        return "an unknown bootable image"
    end = head.find(b"\n", at)
    return head[at + len(MARKER):end if end > 0 else at + 200].decode("utf-8", "replace")


class Machine:
    """One simulated machine, kept in a directory."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        with open(os.path.join(self.path, "machine.json")) as handle:
            self.spec = json.load(handle)

    @classmethod
    def create(cls, path: str, macs: list[str], disk_size: int, boot_url: str | None = None,
               agent_args: list[str] | None = None, env: dict | None = None,
               redfish: dict | None = None) -> "Machine":
        """A powered-off machine with an empty sparse disk, booting from disk."""
        os.makedirs(path, exist_ok=True)
        spec = {"macs": [m.lower() for m in macs], "disk": "disk.img",
                "boot_url": boot_url, "agent_args": list(agent_args or []),
                "env": env, "redfish": redfish}
        with open(os.path.join(path, "machine.json"), "w") as handle:
            json.dump(spec, handle, indent=1)
        with open(os.path.join(path, "disk.img"), "wb") as handle:
            handle.truncate(disk_size)
        machine = cls(path)
        machine._write_state({"power": "off", "boot_device": "disk", "persistent": True,
                              "next_boot": None, "pid": None, "booted": None, "log": []})
        return machine

    # -- state ---------------------------------------------------------------------

    @property
    def disk(self) -> str:
        return os.path.join(self.path, self.spec["disk"])

    @property
    def macs(self) -> list[str]:
        return list(self.spec["macs"])

    @property
    def serial_path(self) -> str:
        """What the machine printed on its serial port (firmware, boot loader)."""
        return os.path.join(self.path, "serial.log")

    @property
    def agent_log_path(self) -> str:
        """What the deploy ramdisk's agent printed."""
        return os.path.join(self.path, "agent.log")

    @contextlib.contextmanager
    def _locked(self):
        with open(os.path.join(self.path, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_state(self) -> dict:
        with open(os.path.join(self.path, "state.json")) as handle:
            return json.load(handle)

    def _write_state(self, state: dict) -> None:
        tmp = os.path.join(self.path, "state.json.tmp")
        with open(tmp, "w") as handle:
            json.dump(state, handle, indent=1)
        os.replace(tmp, os.path.join(self.path, "state.json"))

    def state(self) -> dict:
        with self._locked():
            state = self._read_state()
            if state["power"] == "on" and state.get("pid") and not _alive(state["pid"]):
                # the ramdisk's agent ended (standby.power_off): the machine is off
                state.update(power="off", pid=None, booted=None)
                self._record(state, "agent exited: machine off")
                self._write_state(state)
            return state

    def _log(self, line: str) -> None:
        with self._locked():
            state = self._read_state()
            state["log"] = (state.get("log") or [])[-200:]
            self._record(state, line)
            self._write_state(state)

    def _record(self, state: dict, line: str) -> None:
        """Note ``line`` in the state and print it on the machine's serial port.

        The serial port is ``serial.log``: what firmware and boot loader
        print; the ramdisk's agent prints to ``agent.log``. The ``sim``
        console interface (sim_driver.py) shows both, as one serial line.
        """
        state["log"].append(line)
        with open(self.serial_path, "a") as serial:
            serial.write("%s %s\r\n" % (time.strftime("%H:%M:%S"), line))

    @property
    def power(self) -> str:
        return self.state()["power"]

    @property
    def booted(self) -> str | None:
        return self.state().get("booted")

    # -- management ----------------------------------------------------------------

    def set_boot_device(self, device: str, persistent: bool = False) -> None:
        if device not in BOOT_DEVICES:
            raise ValueError("boot device %r is not one of %s" % (device, BOOT_DEVICES))
        with self._locked():
            state = self._read_state()
            if persistent:
                state.update(boot_device=device, persistent=True, next_boot=None)
            else:
                state["next_boot"] = device
            self._write_state(state)

    def get_boot_device(self) -> dict:
        state = self.state()
        if state.get("next_boot"):
            return {"boot_device": state["next_boot"], "persistent": False}
        return {"boot_device": state["boot_device"], "persistent": True}

    # -- power ---------------------------------------------------------------------

    def power_on(self) -> None:
        with self._locked():
            state = self._read_state()
            if state["power"] == "on":
                return
            device = state.get("next_boot") or state["boot_device"]
            state.update(power="on", next_boot=None, booted="booting from %s" % device,
                         pid=None)
            self._record(state, "power on: booting from %s" % device)
            self._write_state(state)
        stop = threading.Event()
        _BOOTS[self.path] = stop
        threading.Thread(target=self._boot, args=(device, stop), daemon=True,
                         name="sim-boot-%s" % os.path.basename(self.path)).start()

    def power_off(self) -> None:
        stop = _BOOTS.pop(self.path, None)
        if stop is not None:
            stop.set()
        with self._locked():
            state = self._read_state()
            pid = state.get("pid")
        if pid:
            stop_group(pid)
        with self._locked():
            state = self._read_state()
            state.update(power="off", pid=None, booted=None)
            self._record(state, "power off")
            self._write_state(state)

    def reboot(self) -> None:
        self.power_off()
        self.power_on()

    # -- booting -------------------------------------------------------------------

    def _boot(self, device: str, stop: threading.Event) -> None:
        try:
            if device == "disk":
                found = inspect_disk(self.disk)
                self._set_booted(found, stop)
                return
            image = (self._network_boot(stop) if device == "pxe"
                     else self._media_boot(stop))
            if stop.is_set():
                return
            if image is None:
                self._log("%s boot: nothing to boot; trying the disk" % device)
                self._set_booted(inspect_disk(self.disk), stop)
                return
            self._start_agent(image, stop)
        except Exception as exc:  # a machine stuck at boot, not a crash of the conductor
            self._log("%s boot failed: %s" % (device, exc))
            self._set_booted("boot failed: %s" % exc, stop)

    def _set_booted(self, what: str, stop: threading.Event) -> None:
        with self._locked():
            state = self._read_state()
            if stop.is_set() or state["power"] != "on":
                return
            state["booted"] = what
            self._record(state, "booted: %s" % what)
            self._write_state(state)

    def _network_boot(self, stop: threading.Event) -> ipxe_script.BootImage | None:
        url = self.spec.get("boot_url")
        if not url:
            raise RuntimeError("no boot_url: this machine's DHCP hands out no boot file")
        interp = ipxe_script.Interpreter(self.macs[0], _fetch, self._log, stop.is_set)
        return interp.run_url(url)

    def _media_boot(self, stop: threading.Event) -> ipxe_script.BootImage | None:
        bmc = self.spec.get("redfish")
        if not bmc:
            raise RuntimeError("this machine has no BMC with virtual media (no redfish "
                               "in machine.json)")
        media = _virtual_cd(bmc)
        if not media.get("Inserted") or not media.get("Image"):
            self._log("cdrom boot: no virtual media inserted")
            return None
        self._log("cdrom boot: %s" % media["Image"])
        config = boot_iso.read_config(io.BytesIO(_fetch(media["Image"])))
        return _isolinux_image(config, media["Image"])

    def _start_agent(self, image: ipxe_script.BootImage, stop: threading.Event) -> None:
        cmdline = os.path.join(self.path, "cmdline")
        with open(cmdline, "w") as handle:
            handle.write(image.cmdline + "\n")
        argv = agent_command() + [
            "--kernel-cmdline-file", cmdline, "--listen-host", "127.0.0.1",
            "--listen-port", "0", "--advertise-host", "127.0.0.1",
            "--root-device", self.disk, "--tmp-dir", self.path,
            "--power-off-command", "exit", "--reboot-command", "exit",
            *self.hardware_args(), *self.spec.get("agent_args", [])]
        env = dict(os.environ, **(self.spec.get("env") or {}))
        with self._locked():
            state = self._read_state()
            if stop.is_set() or state["power"] != "on":
                return
            log = open(self.agent_log_path, "ab")
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        env=env, close_fds=True)
            finally:
                log.close()
            with _PROCS_LOCK:
                _PROCS[proc.pid] = proc
            state.update(pid=proc.pid, booted="deploy ramdisk (%s)" % image.kernel)
            self._record(state, "started hwdrivers-agent (pid %d)" % proc.pid)
            self._write_state(state)

    def hardware_args(self) -> list[str]:
        """What the agent's inventory reports as this machine: its MACs and its disk."""
        nics = [arg for index, mac in enumerate(self.macs)
                for arg in ("--nic", "eth%d=%s" % (index, mac))]
        return nics + ["--disk", self.disk]

    def agent_log(self) -> str:
        try:
            with open(self.agent_log_path, errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""
