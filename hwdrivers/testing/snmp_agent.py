"""An emulated PDU: snmpsim on 127.0.0.1 with writable outlet tables.

:class:`SnmpAgentFixture` runs ``snmpsim-command-responder`` on a free
UDP port with a data directory written here: one ``.snmprec`` per community
(``public`` reads, ``private`` writes; SNMPv3 selects the same data with
context name ``public``), holding 24 outlets for every vendor table the
driver knows plus a made-up ``generic`` one. v3 users with different
auth/priv protocols are configured on the command line.

Outlets whose control object is also their status object (APC sPDU,
CyberPower, ...) are served by snmpsim's own ``writecache`` variation
module: a SET sticks and is read back. Where the PDU reports state in a
different object than the one written (APC rPDU, Eaton, ServerTech, Raritan,
Geist, generic), a small variation module shipped here, ``pdu_outlet``,
keeps one state per outlet that every OID of that outlet maps to: writes
translate through ``set=``, reads through ``get=``. Both keep state across
communities, like a real PDU.

``SnmpProxy`` sits between the driver and the agent and records, for every
request datagram, when it arrived, which OIDs it touched and when its
answer left, optionally delaying each request to model a slow PDU CPU;
tests use it to see at the PDU side whether two commands overlapped.
"""

import dataclasses
import heapq
import os
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time

import fixtures

from hwdrivers.testing import processes
from hwdrivers.testing.processes import Unavailable, free_udp_port, stop_group, wait_for_log

__all__ = ["OUTLETS", "COMMUNITY", "WRITE_COMMUNITY", "V3_USERS", "ENGINE_ID", "GENERIC_CONTROL",
           "GENERIC_STATUS", "SnmpAgent", "SnmpAgentFixture", "SnmpProxy", "Exchange",
           "overlaps", "free_udp_port", "records", "start_agent"]

OUTLETS = 24
COMMUNITY = "public"          # reads (and v3 context name)
WRITE_COMMUNITY = "private"   # writes

#: v3 users: name -> (auth proto, auth key, priv proto, priv key), snmpsim names.
V3_USERS = {
    "admin": ("SHA", "Auth-Key-Sha-1", "AES", "Priv-Key-Aes-1"),
    "legacy": ("MD5", "Auth-Key-Md5-2", "DES", "Priv-Key-Des-2"),
    "signer": ("SHA256", "Auth-Key-Sha256-3", "NONE", None),
}

#: The agent's SNMPv3 engine ID (hex): fixed, so tests can name it as
#: snmp_context_engine_id the way an operator copies it from the PDU.
ENGINE_ID = "80001f8804687764726976657273"

# The generic test PDU, under an unassigned enterprise number.
GENERIC_CONTROL = "1.3.6.1.4.1.99999.1.1"
GENERIC_STATUS = "1.3.6.1.4.1.99999.1.2"

PDU_OUTLET_MODULE = '''\
"""snmpsim variation module: outlets whose state several OIDs share.

Record value: key=<outlet id>[,init=on|off][,set=<written>:<state>;...]
[,get=<state>:<value>;...]. A SET translates the written INTEGER through
set= into the outlet's state (no set=: not writable); every read answers
the state through get=. State lives in moduleContext, shared by every
data file (community) like a real PDU's.
"""
from pysnmp.proto import rfc1902
from pysnmp.smi import error


def init(**context):
    moduleContext["state"] = {}


def _pairs(text):
    return dict(p.split(":", 1) for p in text.split(";")) if text else {}


def variate(oid, tag, value, **context):
    if not context["nextFlag"] and not context["exactMatch"]:
        return context["origOid"], tag, context["errorStatus"]
    if "settings" not in recordContext:
        raw = dict(item.split("=", 1) for item in value.split(","))
        recordContext["settings"] = (raw["key"], raw.get("init", "off"),
                                     _pairs(raw.get("set")), _pairs(raw.get("get")))
    key, initial, set_map, get_map = recordContext["settings"]
    state = moduleContext["state"]
    state.setdefault(key, initial)
    idx = max(0, context["varsTotal"] - context["varsRemaining"] - 1)
    if context["setFlag"]:
        if not set_map:
            raise error.NotWritableError(name=oid, idx=idx)
        written = str(int(context["origValue"]))
        if written not in set_map:
            raise error.WrongValueError(name=oid, idx=idx)
        state[key] = set_map[written]
    return oid, tag, rfc1902.Integer32(int(get_map[state[key]]))


def record(oid, tag, value, **context):
    raise NotImplementedError("pdu_outlet only serves recordings")


def shutdown(**context):
    pass
'''


def _simple(oid, on, off, index="{n}"):
    """writecache records: the control OID is read back as the state."""
    return ["%s.%s|2:writecache|value=%d" % (oid, index.format(n=n), off)
            for n in range(1, OUTLETS + 1)]


def _linked(prefix, n, key, get, set_=None, index="{n}"):
    value = "key=%s%d,get=%s" % (key, n, get) + (",set=%s" % set_ if set_ else "")
    return "%s.%s|2:pdu_outlet|%s" % (prefix, index.format(n=n), value)


def records():
    """Every line of the recording, sorted by OID as snmpsim expects."""
    lines = [
        "1.3.6.1.2.1.1.1.0|4|hwdrivers test PDU (snmpsim)",
        "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.318.1.3.4.5",
    ]
    lines += _simple("1.3.6.1.4.1.318.1.1.4.4.2.1.3", 1, 2)          # apc
    lines += _simple("1.3.6.1.4.1.318.1.1.6.5.1.1.5", 1, 3)          # apc_masterswitchplus
    lines += _simple("1.3.6.1.4.1.21317.1.3.2.2.2.2", 2, 1, "{n}.0")  # aten
    lines += _simple("1.3.6.1.4.1.3808.1.1.3.3.3.1.1.4", 1, 2)       # cyberpower
    lines += _simple("1.3.6.1.4.1.23620.1.2.2.1.4", 2, 1)            # teltronix
    lines += _simple("1.3.6.1.4.1.4779.1.3.5.3.1.3.1", 1, 0)         # baytech_mrp27
    for n in range(1, OUTLETS + 1):
        # apc_rackpdu: command 1 immediateOn, 2 immediateOff, 3 immediateReboot.
        lines.append(_linked("1.3.6.1.4.1.318.1.1.12.3.3.1.1.4", n, "rpdu", "on:1;off:2",
                             "1:on;2:off;3:on"))
        lines.append(_linked("1.3.6.1.4.1.318.1.1.12.3.5.1.1.4", n, "rpdu", "on:1;off:2"))
        # eatonpower (unit 0): status .2, off command .3, on command .4.
        lines.append(_linked("1.3.6.1.4.1.534.6.6.7.6.6.1.2", n, "eaton", "on:1;off:0",
                             index="0.{n}"))
        lines.append(_linked("1.3.6.1.4.1.534.6.6.7.6.6.1.3", n, "eaton", "on:-1;off:-1",
                             "0:off", index="0.{n}"))
        lines.append(_linked("1.3.6.1.4.1.534.6.6.7.6.6.1.4", n, "eaton", "on:-1;off:-1",
                             "0:on", index="0.{n}"))
        # servertech_sentry3 (tower 1 infeed 1): action .11, status .5.
        lines.append(_linked("1.3.6.1.4.1.1718.3.2.3.1.11", n, "sentry3", "on:0;off:0",
                             "1:on;2:off", index="1.1.{n}"))
        lines.append(_linked("1.3.6.1.4.1.1718.3.2.3.1.5", n, "sentry3", "on:1;off:0",
                             index="1.1.{n}"))
        # servertech_sentry4: status .1 (11 on, 10 off), action .2.
        lines.append(_linked("1.3.6.1.4.1.1718.4.1.8.5.1.1", n, "sentry4", "on:11;off:10",
                             index="1.1.{n}"))
        lines.append(_linked("1.3.6.1.4.1.1718.4.1.8.5.1.2", n, "sentry4", "on:0;off:0",
                             "1:on;2:off", index="1.1.{n}"))
        # raritan_pdu2 (PDU 1): switchingOperation .2, outletSwitchingState .3.
        lines.append(_linked("1.3.6.1.4.1.13742.6.4.1.2.1.2", n, "raritan", "on:1;off:0",
                             "1:on;0:off", index="1.{n}"))
        lines.append(_linked("1.3.6.1.4.1.13742.6.4.1.2.1.3", n, "raritan", "on:7;off:8",
                             index="1.{n}"))
        # vertivgeist_pdu: status .4 (1 on, 2 off), action .6 (2 on, 4 off).
        lines.append(_linked("1.3.6.1.4.1.21239.5.2.3.5.1.4", n, "geist", "on:1;off:2"))
        lines.append(_linked("1.3.6.1.4.1.21239.5.2.3.5.1.6", n, "geist", "on:0;off:0",
                             "2:on;4:off"))
        # generic: write 10 on / 20 off, read 1 on / 0 off.
        lines.append(_linked(GENERIC_CONTROL, n, "generic", "on:10;off:20", "10:on;20:off"))
        lines.append(_linked(GENERIC_STATUS, n, "generic", "on:1;off:0"))

    def key(line):
        return tuple(int(p) for p in line.split("|", 1)[0].split("."))
    return sorted(lines, key=key)


@dataclasses.dataclass
class SnmpAgent:
    address: str
    port: int
    process: subprocess.Popen
    log_path: str
    community: str = COMMUNITY
    write_community: str = WRITE_COMMUNITY
    v3_users: dict = dataclasses.field(default_factory=lambda: dict(V3_USERS))

    def log(self):
        with open(self.log_path, errors="replace") as handle:
            return handle.read()

    def driver_info(self, driver, outlet, version="2c", port=None, **extra):
        """driver_info reaching this agent (or ``port``, e.g. a proxy)."""
        info = {"snmp_driver": driver, "snmp_address": self.address,
                "snmp_port": port or self.port, "snmp_outlet": outlet,
                "snmp_version": version}
        if version == "3":
            info["snmp_user"] = "admin"
            info["snmp_context_name"] = COMMUNITY
            auth, auth_key, priv, priv_key = V3_USERS["admin"]
            info.update(snmp_auth_protocol=auth.lower(), snmp_auth_key=auth_key,
                        snmp_priv_protocol=priv.lower(), snmp_priv_key=priv_key)
        else:
            info["snmp_community_read"] = COMMUNITY
            info["snmp_community_write"] = WRITE_COMMUNITY
        if driver == "generic":
            info.update(snmp_oid_control=GENERIC_CONTROL, snmp_oid_status=GENERIC_STATUS,
                        snmp_value_on=10, snmp_value_off=20, snmp_status_on="1",
                        snmp_status_off="0,3")
        info.update(extra)
        return info


def _responder():
    path = os.path.join(os.path.dirname(sys.executable), "snmpsim-command-responder")
    return path if os.path.exists(path) else shutil.which("snmpsim-command-responder")


def _start(workdir):
    binary = _responder()
    if not binary:
        raise Unavailable("snmpsim-command-responder is not installed (pip install "
                          "'hwdrivers[testing]', or snmpsim)")
    import snmpsim

    data, variation = os.path.join(workdir, "data"), os.path.join(workdir, "variation")
    os.makedirs(data)
    os.makedirs(variation)
    recording = "\n".join(records()) + "\n"
    for community in (COMMUNITY, WRITE_COMMUNITY):
        with open(os.path.join(data, community + ".snmprec"), "w") as handle:
            handle.write(recording)
    shutil.copy(os.path.join(os.path.dirname(snmpsim.__file__), "variation", "writecache.py"),
                variation)
    with open(os.path.join(variation, "pdu_outlet.py"), "w") as handle:
        handle.write(PDU_OUTLET_MODULE)

    port = free_udp_port()
    argv = [binary, "--cache-dir=%s" % os.path.join(workdir, "cache"),
            "--variation-modules-dir=%s" % variation, "--v3-engine-id=%s" % ENGINE_ID]
    for user, (auth, auth_key, priv, priv_key) in V3_USERS.items():
        argv += ["--v3-user=%s" % user, "--v3-auth-proto=%s" % auth,
                 "--v3-auth-key=%s" % auth_key]
        if priv_key:
            argv += ["--v3-priv-proto=%s" % priv, "--v3-priv-key=%s" % priv_key]
    argv += ["--data-dir=%s" % data, "--agent-udpv4-endpoint=127.0.0.1:%d" % port]
    log_path = os.path.join(workdir, "snmpsim.log")
    env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
    with open(log_path, "w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    agent = SnmpAgent("127.0.0.1", port, process, log_path)
    wait_for_log(process, agent.log, "Listening at UDP/IPv4 endpoint", "snmpsim",
                 timeout=60, interval=0.1)
    return agent


def start_agent(workdir):
    """Start the emulated PDU with its files in ``workdir`` (an empty directory)."""
    return _start(str(workdir))


class SnmpAgentFixture(processes.Fixture):
    """A running emulated PDU: ``.agent`` (a :class:`SnmpAgent`).

    ``.agent.driver_info("apc", 3)`` is an snmp node's driver_info for
    outlet 3 of an APC PDU. ``directory``: where its files go (default: a
    temporary directory removed afterwards).
    """

    def __init__(self, directory=None):
        super().__init__()
        self.directory = directory

    def _setUp(self):
        directory = self.directory or self.useFixture(fixtures.TempDir()).path
        self.agent = start_agent(os.path.join(directory, "snmpsim"))
        self.addCleanup(stop_group, self.agent.process)


# -- a recording UDP proxy -------------------------------------------------------

@dataclasses.dataclass
class Exchange:
    """One request datagram as the PDU side saw it."""

    client: tuple
    request_id: int
    oids: tuple
    arrived: float
    answered: float = None


def _decode(datagram):
    """(request id, OIDs) of a v1/v2c message; (None, ()) when unreadable (v3)."""
    from pyasn1.codec.ber import decoder
    from pysnmp.proto import api
    try:
        version = int(api.decodeMessageVersion(datagram))
        module = api.PROTOCOL_MODULES[version]
        message, _ = decoder.decode(datagram, asn1Spec=module.Message())
        pdu = module.apiMessage.get_pdu(message)
        return (int(module.apiPDU.get_request_id(pdu)),
                tuple(str(oid) for oid, _ in module.apiPDU.get_varbinds(pdu)))
    except Exception:  # noqa: BLE001 (v3 or garbage: recorded without detail)
        return None, ()


class SnmpProxy:
    """UDP relay to an agent that records every exchange (see module docstring)."""

    def __init__(self, upstream, delay=0.0):
        self.upstream = upstream
        self.delay = delay
        self.exchanges = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._sock, selectors.EVENT_READ, None)
        self._clients = {}     # client address -> upstream socket
        self._pending = {}     # (client, request id) -> Exchange
        self._queue = []       # (due, seq, upstream socket, datagram)
        self._seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="snmp-proxy", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in [self._sock, *self._clients.values()]:
            sock.close()
        self._selector.close()

    def _run(self):
        while not self._stop.is_set():
            timeout = 0.05
            if self._queue:
                timeout = max(0.0, min(timeout, self._queue[0][0] - time.monotonic()))
            for key, _ in self._selector.select(timeout):
                sock, client = key.fileobj, key.data
                datagram = sock.recv(65535) if client else None
                if client is None:
                    datagram, client = sock.recvfrom(65535)
                    self._from_client(client, datagram)
                else:
                    self._from_agent(client, datagram)
            now = time.monotonic()
            while self._queue and self._queue[0][0] <= now:
                _, _, upstream, datagram = heapq.heappop(self._queue)
                upstream.send(datagram)

    def _from_client(self, client, datagram):
        arrived = time.monotonic()
        request_id, oids = _decode(datagram)
        exchange = Exchange(client, request_id, oids, arrived)
        with self._lock:
            self.exchanges.append(exchange)
            self._pending[(client, request_id)] = exchange
        upstream = self._clients.get(client)
        if upstream is None:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            upstream.connect(self.upstream)
            self._clients[client] = upstream
            self._selector.register(upstream, selectors.EVENT_READ, client)
        self._seq += 1
        heapq.heappush(self._queue, (arrived + self.delay, self._seq, upstream, datagram))

    def _from_agent(self, client, datagram):
        request_id, _ = _decode(datagram)
        with self._lock:
            exchange = self._pending.pop((client, request_id), None)
            if exchange is not None:
                exchange.answered = time.monotonic()
        self._sock.sendto(datagram, client)

    def commands(self, key):
        """``{key(oid): (first arrival, last answer)}`` over every exchange."""
        spans = {}
        with self._lock:
            for exchange in self.exchanges:
                for oid in exchange.oids:
                    k = key(oid)
                    first, last = spans.get(k, (exchange.arrived, exchange.arrived))
                    spans[k] = (min(first, exchange.arrived),
                                max(last, exchange.answered or exchange.arrived))
        return spans


def overlaps(spans):
    """Pairs of keys whose [first arrival, last answer] intervals overlap."""
    items = sorted(spans.items(), key=lambda kv: kv[1][0])
    found = []
    for i, (key_a, (_, end_a)) in enumerate(items):
        for key_b, (start_b, _) in items[i + 1:]:
            if start_b < end_a:
                found.append((key_a, key_b))
    return found
