"""Fake BMCs for the ipmi driver: pyghmi's ``Bmc``, made to answer like a real one.

pyghmi ships a server side of IPMI 2.0 (RMCP+ sessions, cipher suite 3)
whose ``Bmc`` class calls methods such as ``power_on`` and
``get_boot_device``. :class:`FakeBmc` keeps power state, the full boot
flags (device, persistent, EFI), a small SDR repository with sensors and
per-user privilege limits in memory, and answers the cases stock pyghmi
leaves silent the way BMCs do: an unknown user name gets RAKP 2 status
"unauthorized name", a command above the session's privilege gets
completion code 0xd4, power cycle of a machine that is off gets 0xd5.
With ``refuse_cycle`` it has no power cycle at all, like pyghmi's stock
``fakebmc`` and VirtualBMC: ``chassis power cycle`` gets 0xcc ("Invalid data
field in request").
With ``boot_flag_timeout`` it also drops boot flags that no power action
follows in time, unless the client disabled that (boot option parameter 3).

Every BMC of one :func:`start_fake_bmcs` call runs in ONE child process
(pyghmi's event loop serves every socket it has), bound to 127.0.0.1 on
ports the kernel picks, so there is nothing to race for. The child prints
one JSON line per event (``{"port": p, "event": "power_on"}``) that the
parent collects, so tests can check what reached the BMC. Tests use
:class:`FakeBmcFixture`; benchmarks call :func:`start_fake_bmcs` directly::

    with start_fake_bmcs(100) as bmcs:
        infos = [bmcs.driver_info(i) for i in range(100)]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

from hwdrivers.testing import processes

__all__ = ["USERNAME", "PASSWORD", "VIEWER", "FakeBmcs", "FakeBmcFixture",
           "start_fake_bmcs"]

USERNAME = "admin"
PASSWORD = "s3cret-Pa55"
#: A second account limited to USER privilege (may read, may not act).
VIEWER = ("viewer", "v1ew-only")

# IPMI privilege levels and the one each command needs.
_PRIV = {"CALLBACK": 1, "USER": 2, "OPERATOR": 3, "ADMINISTRATOR": 4}
_SENSOR_DEFAULTS = [
    # name, sensor type, base unit, M, R exponent, raw reading
    ("Inlet Temp", 0x01, 1, 1, 0, 21),      # degrees C
    ("Fan1", 0x04, 18, 100, 0, 48),         # RPM
    ("12V", 0x02, 4, 6, -2, 200),           # Volts
]


# -- the BMC (runs in the child process) ----------------------------------------

def _make_classes():
    """Build the pyghmi subclasses; pyghmi is imported in the child only."""
    import pyghmi.ipmi.bmc as bmc
    import pyghmi.ipmi.private.constants as constants
    import pyghmi.ipmi.private.serversession as serversession
    import pyghmi.ipmi.private.session as ipmisession

    class FakeSession(serversession.ServerSession):
        """One client's RMCP+ session, refusing unknown users and capping privilege."""

        # A session starts at USER privilege until the client raises it (IPMI
        # 2.0 section 22.18); stock pyghmi never sets it, and answering a
        # refused Set Session Privilege Level then crashed the BMC process.
        clientpriv = _PRIV["USER"]

        def _got_rakp1(self, data):
            namelen = data[27]
            name = bytes(data[28:28 + namelen]).decode("utf-8", "replace")
            user = self.bmc.users.get(name)
            if user is None:
                # RAKP 2 with status 0x0d: "unauthorized name", as BMCs answer.
                self.send_payload(bytearray([data[0], 0x0D, 0, 0]) + self.clientsessionid,
                                  constants.payload_types["rakp2"], retry=False)
                return
            super()._got_rakp1(data)
            # Whatever role was asked for, the account's limit caps the session:
            # Set Session Privilege Level above it then fails with 0x81.
            self.maxpriv = min(self.maxpriv, user[1])

        def close_server_session(self):
            # pyghmi keeps every session routed by client address forever; a
            # benchmark's thousands of ipmitool runs (one source port each)
            # would pile up. Forget the session once the client closed it.
            handlers = ipmisession.Session.bmc_handlers.get(self.sockaddr)
            if handlers is not None and handlers.get(self.bmc.port) is self:
                del handlers[self.bmc.port]
                if not handlers:
                    del ipmisession.Session.bmc_handlers[self.sockaddr]

    class FakeBmc(bmc.Bmc):
        def __init__(self, users, address, emit, soft_off_delay=0.0,
                     boot_flag_timeout=None, refuse_cycle=False):
            self.users = {name: (password, _PRIV[level])
                          for name, (password, level) in users.items()}
            super().__init__({n: p for n, (p, _) in self.users.items()},
                             port=0, address=address)
            # Bound to port 0: learn the real port; pyghmi routes packets by it.
            self.port = self.serversocket.getsockname()[1]
            self.emit = emit
            self.soft_off_delay = soft_off_delay
            self.refuse_cycle = refuse_cycle
            self.powerstate = "off"
            self.off_at = None
            # Boot flags (IPMI boot option parameter 5), bytes 1-5.
            self.bootflags = [0, 0, 0, 0, 0]
            # Real BMCs clear the flags' valid bit when no chassis control
            # follows within 60 s, unless bit 3 of parameter 3 ("boot flag
            # valid bit clearing") says not to; None: never expire.
            self.boot_flag_timeout = boot_flag_timeout
            self.flags_set_at = None
            self.valid_bit_clearing = 0
            self.sensors = _SENSOR_DEFAULTS
            self.reservation = 1

        def event(self, name, **extra):
            self.emit(dict(extra, port=self.port, event=name))

        # sessions: replace pyghmi's for RMCP+ open session requests
        def sessionless_data(self, data, sockaddr):
            data = bytearray(data)
            if (len(data) >= 22 and data[0] == 6 and data[2:4] == b"\xff\x07"
                    and data[4] == 6 and data[5] == 16):
                FakeSession(self.authdata, self.kg, sockaddr, self.serversocket,
                            data[16:], self.uuid, bmc=self)
                return
            super().sessionless_data(data, sockaddr)

        def _expire_boot_flags(self, chassis_control=False):
            set_at, self.flags_set_at = self.flags_set_at, (
                None if chassis_control else self.flags_set_at)
            if (set_at is not None and self.boot_flag_timeout is not None
                    and not self.valid_bit_clearing & 0x08
                    and time.monotonic() - set_at >= self.boot_flag_timeout):
                self.flags_set_at = None
                if self.bootflags[0] & 0x80:
                    self.bootflags[0] &= 0x7F
                    self.event("boot_flags_expired")

        # power
        def get_power_state(self):
            if self.off_at is not None and time.monotonic() >= self.off_at:
                self.powerstate, self.off_at = "off", None
                self.event("soft_off_done")
            return self.powerstate

        def _boot(self):
            self.powerstate = "on"
            if self.bootflags[0] & 0x80 and not self.bootflags[0] & 0x40:
                self.bootflags[0] &= 0x7F  # a one-time override is used up by a boot
            self.event("boot", flags=list(self.bootflags))

        def power_on(self):
            self._expire_boot_flags(chassis_control=True)
            self.event("power_on")
            if self.get_power_state() == "off":
                self._boot()

        def power_off(self):
            self.event("power_off")
            self.powerstate, self.off_at = "off", None

        def power_cycle(self):
            if self.refuse_cycle:
                # pyghmi's Bmc answers NotImplementedError with 0xcc, "Invalid
                # data field in request", exactly as its stock fakebmc does.
                self.event("power_cycle_refused")
                raise NotImplementedError
            self._expire_boot_flags(chassis_control=True)
            self.event("power_cycle")
            if self.get_power_state() == "off":
                return 0xD5  # "not supported in present state", as many BMCs answer
            self._boot()

        def power_reset(self):
            self._expire_boot_flags(chassis_control=True)
            self.event("power_reset")
            if self.get_power_state() == "off":
                return 0xD5
            self._boot()

        def power_shutdown(self):
            self.event("power_soft")
            if self.get_power_state() == "on" and self.off_at is None:
                self.off_at = time.monotonic() + self.soft_off_delay

        def pulse_diag(self):
            self.event("nmi")

        def is_active(self):
            return self.get_power_state() == "on"

        def cold_reset(self):
            self.event("cold_reset")
            return 0

        # requests
        def handle_raw_request(self, request, session):
            netfn, command, data = request["netfn"], request["command"], request["data"]
            priv = getattr(session, "clientpriv", _PRIV["USER"])
            try:
                if netfn == 0 and command in (2, 8) and priv < _PRIV["OPERATOR"]:
                    return session.send_ipmi_response(code=0xD4)  # insufficient privilege
                if netfn == 0 and command == 8:
                    return self.set_boot_options(data, session)
                if netfn == 0 and command == 9:
                    return self.get_boot_options(data, session)
                if netfn == 0x0A and command == 0x20:
                    return self.sdr_repository_info(session)
                if netfn == 0x0A and command == 0x22:
                    self.reservation = self.reservation % 0xFFFF + 1
                    return session.send_ipmi_response(
                        data=[self.reservation & 0xFF, self.reservation >> 8])
                if netfn == 0x0A and command == 0x23:
                    return self.get_sdr(data, session)
                if netfn == 0x04 and command == 0x2D:
                    return self.get_sensor_reading(data, session)
            except Exception:  # answer "unspecified error" rather than go silent
                import traceback
                traceback.print_exc()
                return session.send_ipmi_response(code=0xFF)
            return super().handle_raw_request(request, session)

        def set_boot_options(self, data, session):
            if data[0] & 0x7F == 5:
                if len(data) < 6:
                    return session.send_ipmi_response(code=0xC7)
                self.bootflags = list(data[1:6])
                self.flags_set_at = time.monotonic()
                self.event("set_boot", flags=list(self.bootflags))
            elif data[0] & 0x7F == 3 and len(data) >= 2:
                self.valid_bit_clearing = data[1]
                self.event("set_valid_bit_clearing", value=data[1])
            # parameters 0 (set in progress) and 4 (acknowledge): accepted
            return session.send_ipmi_response()

        def get_boot_options(self, data, session):
            if data[0] & 0x7F != 5:
                return session.send_ipmi_response(code=0x80)  # parameter not supported
            self._expire_boot_flags()
            return session.send_ipmi_response(data=[1, 5] + self.bootflags)

        # SDR repository: full sensor records (IPMI 2.0 table 43-1)
        def sdr_record(self, index):
            name, stype, unit, m, rexp, _ = self.sensors[index]
            raw = name.encode("ascii")[:16]
            body = [0x20, 0x00, index + 1, 0x07, 0x01, 0x7F, 0x68, stype, 0x01,
                    0, 0, 0, 0, 0x00, 0x00,   # event masks; no thresholds readable
                    0x00, unit, 0x00, 0x00,   # unsigned, base unit, linear
                    m & 0xFF, (m >> 8) << 6, 0, 0, 0,
                    (rexp & 0x0F) << 4,       # R exponent, B exponent 0
                    0, 0, 0, 0, 0xFF, 0x00,   # characteristics, nominal..., max, min
                    0, 0, 0, 0, 0, 0, 0, 0,   # thresholds, hysteresis
                    0, 0, 0,                  # reserved, OEM
                    0xC0 | len(raw)] + list(raw)
            record_id = index + 1
            return [record_id & 0xFF, record_id >> 8, 0x51, 0x01, len(body)] + body

        def sdr_repository_info(self, session):
            count = len(self.sensors)
            session.send_ipmi_response(data=[0x51, count & 0xFF, count >> 8, 0, 0]
                                       + [0] * 8 + [0x02])

        def get_sdr(self, data, session):
            record_id = data[2] | (data[3] << 8)
            offset, length = data[4], data[5]
            index = 0 if record_id == 0 else record_id - 1
            if index >= len(self.sensors):
                return session.send_ipmi_response(code=0xCB)  # record not present
            following = index + 2 if index + 1 < len(self.sensors) else 0xFFFF
            chunk = self.sdr_record(index)[offset:offset + length]
            session.send_ipmi_response(data=[following & 0xFF, following >> 8] + chunk)

        def get_sensor_reading(self, data, session):
            index = data[0] - 1
            if not 0 <= index < len(self.sensors):
                return session.send_ipmi_response(code=0xCB)
            session.send_ipmi_response(data=[self.sensors[index][5], 0xC0, 0x00, 0x80])

    return FakeBmc


def serve(count, users, address="127.0.0.1", soft_off_delay=0.0, out=sys.stdout,
          boot_flag_timeout=None, refuse_cycle=False):
    """Run ``count`` BMCs in this process forever; print ports, then events."""
    import pyghmi.ipmi.private.session as ipmisession

    lock = threading.Lock()

    def emit(record):
        with lock:
            out.write(json.dumps(record) + "\n")
            out.flush()

    fake_bmc = _make_classes()
    bmcs = [fake_bmc(users, address, emit, soft_off_delay, boot_flag_timeout,
                     refuse_cycle) for _ in range(count)]
    emit({"ports": [b.port for b in bmcs]})
    while True:  # pyghmi's event loop serves every BMC socket of the process
        try:
            ipmisession.Session.wait_for_rsp(timeout=30)
        except Exception:  # one bad packet must not take every BMC down
            import traceback
            traceback.print_exc()


# -- the parent side --------------------------------------------------------------

class FakeBmcs:
    """Handle on a child process serving fake BMCs; stop() kills its process group."""

    def __init__(self, proc, ports, address, users):
        self.proc = proc
        self.ports = ports
        self.address = address
        self.users = users
        self._events = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self._events.append(record)

    def events(self, port=None):
        """Event names seen so far (for one BMC's port, or all)."""
        with self._lock:
            return [e["event"] for e in self._events if port in (None, e.get("port"))]

    def records(self, port=None):
        with self._lock:
            return [dict(e) for e in self._events if port in (None, e.get("port"))]

    def wait_for_event(self, port, name, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if name in self.events(port):
                return True
            time.sleep(0.02)
        return False

    def driver_info(self, index=0, **overrides):
        """driver_info for BMC ``index``, logging in as the administrator."""
        info = {"ipmi_address": self.address, "ipmi_port": self.ports[index],
                "ipmi_username": USERNAME, "ipmi_password": self.users[USERNAME][0]}
        info.update(overrides)
        return info

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_fake_bmcs(count=1, users=None, address="127.0.0.1", soft_off_delay=0.0,
                    startup_timeout=30.0, boot_flag_timeout=None, refuse_cycle=False):
    """Start ``count`` fake BMCs in one child process; return a :class:`FakeBmcs`.

    :param users: ``{name: (password, max privilege)}``; default: USERNAME /
        PASSWORD as ADMINISTRATOR and VIEWER limited to USER.
    :param soft_off_delay: seconds a soft power off takes (an OS shutting down).
    :param boot_flag_timeout: seconds after which boot flags not followed by
        a chassis control lose their valid bit (real BMCs: 60), unless the
        client disabled that through boot option parameter 3; None: never.
    :param refuse_cycle: answer ``chassis power cycle`` with 0xcc, as BMCs
        without a cycle command (pyghmi's fakebmc, VirtualBMC) do.
    """
    users = users or {USERNAME: (PASSWORD, "ADMINISTRATOR"), VIEWER[0]: (VIEWER[1], "USER")}
    spec = json.dumps({"count": count, "users": users, "address": address,
                       "soft_off_delay": soft_off_delay,
                       "boot_flag_timeout": boot_flag_timeout,
                       "refuse_cycle": refuse_cycle})
    proc = subprocess.Popen(
        [sys.executable, "-m", "hwdrivers.testing.ipmi_bmc", spec],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
        start_new_session=True)  # own process group: stop() kills it whole
    ready = {}

    def first_line():
        ready["line"] = proc.stdout.readline()

    reader = threading.Thread(target=first_line, daemon=True)
    reader.start()
    reader.join(startup_timeout)
    try:
        ports = json.loads(ready.get("line") or "{}")["ports"]
    except (ValueError, KeyError):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise RuntimeError("fake BMCs did not start within %ss (exit code %s)"
                           % (startup_timeout, proc.poll())) from None
    return FakeBmcs(proc, ports, address, users)


class FakeBmcFixture(processes.Fixture):
    """``count`` pyghmi fake BMCs on 127.0.0.1: ``.bmcs`` (a :class:`FakeBmcs`).

    Keyword arguments are :func:`start_fake_bmcs`'s. ``.bmcs.driver_info(i)``
    is an ipmi node's driver_info for BMC ``i``.
    """

    def __init__(self, count=1, **options):
        super().__init__()
        self.count = count
        self.options = options

    def _setUp(self):
        try:
            import pyghmi  # noqa: F401 (the child imports it; fail here, clearly)
        except ImportError:
            from hwdrivers.testing.processes import Unavailable
            raise Unavailable("pyghmi is not installed (pip install 'hwdrivers[testing]')")
        self.bmcs = start_fake_bmcs(self.count, **self.options)
        self.addCleanup(self.bmcs.stop)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Serve fake BMCs (see start_fake_bmcs).")
    parser.add_argument("spec", help='JSON: {"count", "users", "address", '
                                     '"soft_off_delay", "boot_flag_timeout", '
                                     '"refuse_cycle"}')
    spec = json.loads(parser.parse_args(argv).spec)
    serve(spec["count"], {k: tuple(v) for k, v in spec["users"].items()},
          spec.get("address", "127.0.0.1"), spec.get("soft_off_delay", 0.0),
          boot_flag_timeout=spec.get("boot_flag_timeout"),
          refuse_cycle=spec.get("refuse_cycle", False))


if __name__ == "__main__":
    main()
