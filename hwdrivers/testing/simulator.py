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
  the agent the same way with its ``append`` line; a machine whose firmware
  boots UEFI (``boot_mode``) takes the ISO's El Torito EFI entry instead:
  the EFI system partition it points to, that partition's
  ``EFI/BOOT/BOOTX64.EFI`` (taken for GRUB) and ``EFI/BOOT/grub.cfg``,
  whose ``linux`` and ``initrd`` lines give kernel, initrd and command line;
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
import struct
import subprocess
import tempfile
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
BOOT_MODES = ("bios", "uefi")

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


def _efi_entry(iso_bytes: bytes) -> int | None:
    """Where (byte offset) the ISO's El Torito EFI boot image starts, or None."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    try:
        iso.open_fp(io.BytesIO(iso_bytes))
    except pycdlib.pycdlibexception.PyCdlibException:
        return None
    try:
        catalog = iso.eltorito_boot_catalog
        if catalog is None:
            return None
        entries = ([catalog.initial_entry]
                   if catalog.validation_entry.platform_id == boot_iso.EFI_PLATFORM else [])
        entries += [entry for section in catalog.sections
                    if section.platform_id == boot_iso.EFI_PLATFORM
                    for entry in section.section_entries]
        return entries[0].load_rba * 2048 if entries else None
    finally:
        iso.close()


def _mtools(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, check=False,
                          env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))


def efi_grub_config(iso_bytes: bytes, workdir: str) -> str | None:
    """grub.cfg as UEFI firmware and GRUB reach it on an ISO, or None: no EFI entry.

    The EFI entry's image is a FAT file system (its size from its boot
    sector, as the entry's sector count is capped); firmware runs its
    ``EFI/BOOT/BOOTX64.EFI``, which reads ``EFI/BOOT/grub.cfg`` beside it.
    """
    offset = _efi_entry(iso_bytes)
    if offset is None:
        return None
    sector, small, large = (struct.unpack_from("<H", iso_bytes, offset + 11)[0],
                            struct.unpack_from("<H", iso_bytes, offset + 19)[0],
                            struct.unpack_from("<I", iso_bytes, offset + 32)[0])
    fd, esp = tempfile.mkstemp(dir=workdir, prefix=".esp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(iso_bytes[offset:offset + sector * (small or large)])
        if _mtools("mdir", "-b", "-i", esp, "::/EFI/BOOT/BOOTX64.EFI").returncode != 0:
            raise RuntimeError("the EFI system partition has no EFI/BOOT/BOOTX64.EFI")
        config = _mtools("mtype", "-i", esp, "::/" + boot_iso.GRUB_PATH)
        if config.returncode != 0:
            raise RuntimeError("GRUB found no %s in the EFI system partition: %s"
                               % (boot_iso.GRUB_PATH, config.stderr.decode().strip()))
        return config.stdout.decode()
    finally:
        os.unlink(esp)


def grub_words(text: str) -> list[str]:
    """A GRUB script line's words: quotes and backslashes as GRUB reads them.

    A variable or an operator outside quotes is an error: a deploy's
    grub.cfg has none, and reading past one would hide an injection.
    """
    words, word, i, started = [], [], 0, False
    while i < len(text):
        char = text[i]
        if char.isspace():
            if started:
                words.append("".join(word))
            word, started, i = [], False, i + 1
            continue
        started = True
        if char == "'":
            end = text.index("'", i + 1)
            word.append(text[i + 1:end])
            i = end + 1
        elif char == '"':
            i += 1
            while text[i] != '"':
                if text[i] == "$":
                    raise RuntimeError("grub.cfg: a variable in %r" % text)
                if text[i] == "\\" and text[i + 1] in '$"\\':
                    i += 1
                word.append(text[i])
                i += 1
            i += 1
        elif char == "\\":
            word.append(text[i + 1])
            i += 2
        elif char in "$;|&<>{}":
            raise RuntimeError("grub.cfg: %r outside quotes in %r" % (char, text))
        else:
            word.append(char)
            i += 1
    if started:
        words.append("".join(word))
    return words


def loader_cmdline(args: list[str]) -> str:
    """The kernel command line GRUB's ``linux`` builds from its arguments.

    As grub_create_loader_cmdline: an argument with a space in double
    quotes, and quotes and backslashes escaped with a backslash.
    """
    def one(arg):
        escaped = "".join("\\" + c if c in "\\'\"" else c for c in arg)
        return '"%s"' % escaped if " " in arg else escaped
    return " ".join(one(arg) for arg in args)


def _grub_image(config: str, source: str) -> ipxe_script.BootImage:
    """What GRUB would boot from a grub.cfg's first ``linux`` and ``initrd`` lines."""
    kernel, args, initrds = None, [], []
    for line in config.splitlines():
        command = line.strip().split(None, 1)
        if len(command) < 2:
            continue
        if command[0] in ("linux", "linuxefi") and kernel is None:
            kernel, *args = grub_words(command[1])
        elif command[0] in ("initrd", "initrdefi") and not initrds:
            initrds = grub_words(command[1])
    if kernel is None:
        raise RuntimeError("grub.cfg of %s loads no kernel" % source)
    return ipxe_script.BootImage("%s!%s" % (source, kernel), initrds, loader_cmdline(args))


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
               redfish: dict | None = None, boot_mode: str = "bios") -> "Machine":
        """A powered-off machine with an empty sparse disk, booting from disk.

        ``boot_mode``: what its firmware boots media in, ``bios`` or ``uefi``.
        """
        if boot_mode not in BOOT_MODES:
            raise ValueError("boot mode %r is not one of %s" % (boot_mode, BOOT_MODES))
        os.makedirs(path, exist_ok=True)
        spec = {"macs": [m.lower() for m in macs], "disk": "disk.img",
                "boot_url": boot_url, "agent_args": list(agent_args or []),
                "env": env, "redfish": redfish, "boot_mode": boot_mode}
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
    def boot_mode(self) -> str:
        return self.spec.get("boot_mode") or "bios"

    def set_boot_mode(self, mode: str) -> None:
        """Switch the firmware between BIOS and UEFI boot (as in its setup screen)."""
        if mode not in BOOT_MODES:
            raise ValueError("boot mode %r is not one of %s" % (mode, BOOT_MODES))
        with self._locked():
            self.spec["boot_mode"] = mode
            tmp = os.path.join(self.path, "machine.json.tmp")
            with open(tmp, "w") as handle:
                json.dump(self.spec, handle, indent=1)
            os.replace(tmp, os.path.join(self.path, "machine.json"))

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
            if stop.is_set():
                return  # powered off meanwhile (its directory may be gone): nothing to say
            try:
                self._log("%s boot failed: %s" % (device, exc))
                self._set_booted("boot failed: %s" % exc, stop)
            except FileNotFoundError:
                return  # the machine was removed while it booted

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
        iso = _fetch(media["Image"])
        if self.boot_mode == "uefi":
            config = efi_grub_config(iso, self.path)
            if config is None:
                self._log("cdrom boot: the media has no EFI boot entry (UEFI firmware)")
                return None
            self._log("cdrom boot: EFI entry, %s" % boot_iso.GRUB_PATH)
            return _grub_image(config, media["Image"])
        config = boot_iso.read_config(io.BytesIO(iso))
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
