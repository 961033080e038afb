"""snmp power: switch PDU outlets over SNMP v1, v2c or v3 (pysnmp).

One node is one outlet of a PDU. Switching writes an INTEGER to the
outlet's control object and reads the state back from its status object;
which objects and values depends on the vendor (``snmp_driver``, tables in
:mod:`.snmp_mibs`), or on the node's own OIDs with ``snmp_driver=generic``.

The PDU, not the outlet, is the controller (``snmp:<address>:<port>``), so
the conductor queues the 24 outlets of one PDU behind one another, as
PDUDaemon does: PDUs have weak processors that drop or garble concurrent
requests. A reboot is off, ``snmp_reboot_delay`` seconds, on — done inside
one queued command, so no other outlet of the PDU interleaves with it.

pysnmp 7 is asyncio-only and its engine is not thread-safe, while drivers
are called from many threads. So each call borrows an engine with its own
private event loop from :data:`_POOL` and runs the request to completion on
that loop in the calling thread; no engine is ever used by two threads at
once, and engines are reused because making one (and its MIB tables)
costs ~0.1 s of CPU. v3 engines are kept per credential set, because an
engine remembers keys localized for each PDU it has talked to.

One request, pysnmp's resends included, is bounded by ``[snmp]
command_timeout`` (``timeout * (retries + 1)`` must fit in it, checked at
start), so an operation on a silent PDU keeps the deadline rule of
:mod:`hwdrivers.drivers.retry`.
"""

import atexit
import collections
import contextlib
import hashlib
import importlib.util
import logging
import socket
import threading
import time


from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conf import CONF
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import snmp_mibs

LOG = logging.getLogger(__name__)

VERSIONS = ("1", "2c", "3")
AUTH_PROTOCOLS = ("none", "md5", "sha", "sha224", "sha256", "sha384", "sha512")
PRIV_PROTOCOLS = ("none", "des", "3des", "aes", "aes192", "aes256",
                  "aes192blmt", "aes256blmt")

# pysnmp names, looked up lazily so importing this module stays cheap.
_AUTH_IDS = {"none": "USM_AUTH_NONE", "md5": "USM_AUTH_HMAC96_MD5",
             "sha": "USM_AUTH_HMAC96_SHA", "sha224": "USM_AUTH_HMAC128_SHA224",
             "sha256": "USM_AUTH_HMAC192_SHA256", "sha384": "USM_AUTH_HMAC256_SHA384",
             "sha512": "USM_AUTH_HMAC384_SHA512"}
_PRIV_IDS = {"none": "USM_PRIV_NONE", "des": "USM_PRIV_CBC56_DES",
             "3des": "USM_PRIV_CBC168_3DES", "aes": "USM_PRIV_CFB128_AES",
             "aes192": "USM_PRIV_CFB192_AES", "aes256": "USM_PRIV_CFB256_AES",
             "aes192blmt": "USM_PRIV_CFB192_AES_BLUMENTHAL",
             "aes256blmt": "USM_PRIV_CFB256_AES_BLUMENTHAL"}

#: Longest snmp_reboot_delay. The reboot is one queued command, so its wait
#: holds every outlet of the PDU: a typo (milliseconds, ``inf``) must not
#: hold them for days, nor leave the outlet off when sleep() overflows.
MAX_REBOOT_DELAY = 3600
#: What an SNMP INTEGER (Integer32) holds; pysnmp refuses anything else at
#: the SET with a bare ValueConstraintError that names no field.
INTEGER32 = (-2 ** 31, 2 ** 31 - 1)

_P = params.Param
SCHEMA = params.Schema(
    _P("snmp_driver", "PDU model: which MIB objects switch and report an outlet "
       "('generic': the snmp_oid_* and snmp_value_* fields say)", required=True,
       type="choice", choices=snmp_mibs.DRIVER_NAMES),
    _P("snmp_address", "PDU IP address or host name", required=True, type="address"),
    # At most an OID sub-identifier: agents drop a request whose OID they cannot
    # parse, so a typo'd outlet looked like a wrong address or community.
    _P("snmp_outlet", "PDU outlet number (from 1)", required=True, type="int", min=1,
       max=snmp_mibs.MAX_SUBID),
    _P("snmp_port", "PDU SNMP UDP port", type="port", default=161),
    _P("snmp_version", "SNMP version: 1, 2c or 3 (default 1, as Ironic)",
       type="choice", choices=VERSIONS),
    _P("snmp_protocol", "Synonym of snmp_version", type="choice", choices=VERSIONS),
    _P("snmp_community", "SNMP v1/v2c community for reads and writes, unless "
       "snmp_community_read/snmp_community_write are set", secret=True),
    _P("snmp_community_read", "SNMP v1/v2c community for reads", secret=True),
    _P("snmp_community_write", "SNMP v1/v2c community for writes", secret=True),
    _P("snmp_user", "SNMPv3 USM user name (required for version 3)"),
    _P("snmp_security", "Ironic's deprecated name of snmp_user, used when "
       "snmp_user is not set"),
    _P("snmp_auth_protocol", "SNMPv3 authentication protocol (default md5 when "
       "snmp_auth_key is set, else none)", type="choice", choices=AUTH_PROTOCOLS),
    _P("snmp_auth_key", "SNMPv3 authentication pass phrase (8 characters or more)",
       secret=True),
    _P("snmp_priv_protocol", "SNMPv3 privacy (encryption) protocol (default des "
       "when snmp_priv_key is set, else none)", type="choice", choices=PRIV_PROTOCOLS),
    _P("snmp_priv_key", "SNMPv3 privacy pass phrase (8 characters or more)",
       secret=True),
    _P("snmp_context_engine_id", "SNMPv3 context engine ID in hex (default: the "
       "PDU's engine ID)"),
    _P("snmp_context_name", "SNMPv3 context name (default empty)"),
    _P("snmp_reboot_delay", "Seconds the outlet stays off during a reboot, up to "
       "%d (default [snmp] reboot_delay)" % MAX_REBOOT_DELAY, type="float", min=0,
       max=MAX_REBOOT_DELAY),
    _P("snmp_oid_control", "generic: OID written to switch the outlet, without "
       "the outlet number (appended)"),
    _P("snmp_oid_control_off", "generic: OID written to switch off, when the PDU "
       "has separate on and off objects (default snmp_oid_control)"),
    _P("snmp_oid_status", "generic: OID read for the outlet state, without the "
       "outlet number (default snmp_oid_control)"),
    _P("snmp_value_on", "generic: INTEGER written to switch on", type="int",
       min=INTEGER32[0], max=INTEGER32[1]),
    _P("snmp_value_off", "generic: INTEGER written to switch off", type="int",
       min=INTEGER32[0], max=INTEGER32[1]),
    _P("snmp_status_on", "generic: value(s) read back meaning on, comma-separated "
       "(default snmp_value_on)"),
    _P("snmp_status_off", "generic: value(s) read back meaning off, comma-separated "
       "(default snmp_value_off)"),
)
del _P

_GENERIC_REQUIRED = ("snmp_oid_control", "snmp_value_on", "snmp_value_off")

#: Fields that travel as (or are hashed from) an SNMP OCTET STRING, which
#: holds at most 65535 bytes: pysnmp refused a longer one with an error
#: that named no field and printed the value, a key or community included.
_OCTET_STRINGS = ("snmp_community", "snmp_community_read", "snmp_community_write",
                  "snmp_user", "snmp_security", "snmp_auth_key", "snmp_priv_key",
                  "snmp_context_name")
MAX_OCTETS = 65535


def _version(values, problems):
    """snmp_version and its synonym snmp_protocol agree; ``version`` (default 1)."""
    if values["snmp_version"] and values["snmp_protocol"] and (
            values["snmp_version"] != values["snmp_protocol"]):
        problems.refuse("fields snmp_version and snmp_protocol disagree; set only one")
    values["version"] = values["snmp_version"] or values["snmp_protocol"] or "1"


def _octet_strings(values, problems):
    """Every string SNMP carries fits an OCTET STRING (never shown: secrets)."""
    for name in _OCTET_STRINGS:
        if values[name] is not None and len(values[name].encode("utf-8")) > MAX_OCTETS:
            problems.refuse("field %s must be at most %d bytes (an SNMP OCTET STRING)"
                            % (name, MAX_OCTETS))


def _communities(values, problems):
    """v1/v2c: ``read_community`` and ``write_community``, both needed."""
    if values["version"] == "3":
        return
    values["read_community"] = values["snmp_community_read"] or values["snmp_community"]
    values["write_community"] = (values["snmp_community_write"]
                                 or values["snmp_community"])
    if not (values["read_community"] and values["write_community"]):
        problems.require("snmp_community")


def _usm(values, problems):
    """v3: a user, the keys its protocols need (RFC 3414 lengths), the engine ID."""
    if values["version"] != "3":
        return
    # Ironic still reads snmp_security when snmp_user is absent: its v3 nodes
    # must keep working when they move over unchanged.
    values["snmp_user"] = values["snmp_user"] or values["snmp_security"]
    if not values["snmp_user"]:
        problems.require("snmp_user")
    auth = values["snmp_auth_protocol"] or ("md5" if values["snmp_auth_key"] else "none")
    priv = values["snmp_priv_protocol"] or ("des" if values["snmp_priv_key"] else "none")
    if auth != "none" and not values["snmp_auth_key"]:
        problems.require("snmp_auth_key")
    if priv != "none" and not values["snmp_priv_key"]:
        problems.require("snmp_priv_key")
    if priv != "none" and auth == "none":
        problems.refuse("field snmp_priv_protocol needs authentication too: set "
                        "snmp_auth_protocol and snmp_auth_key")
    for name in ("snmp_auth_key", "snmp_priv_key"):
        if values[name] is not None and len(values[name]) < 8:
            problems.refuse("field %s must be at least 8 characters (RFC 3414)" % name)
    values["auth_protocol"], values["priv_protocol"] = auth, priv
    engine_id = values["snmp_context_engine_id"]
    if engine_id:
        text = engine_id[2:] if engine_id.lower().startswith("0x") else engine_id
        try:
            if not 5 <= len(bytes.fromhex(text)) <= 32:
                raise ValueError
        except ValueError:
            problems.refuse("field snmp_context_engine_id (got %r) must be 5 to 32 "
                            "bytes in hex, e.g. 80001f8880e9630000d61ff449"
                            % params.without_password(engine_id))
        else:
            # One spelling: net-snmp and PDU web pages show "80 00 1F 88 ...",
            # which fromhex() reads, but pysnmp's hexValue pairs the spaces in
            # and sent another engine ID (refused by the PDU as unknown).
            values["snmp_context_engine_id"] = bytes.fromhex(text).hex()


def _mib(values, problems):
    """``mib``: the vendor's table, or one built from the generic fields."""
    values["reboot_delay"] = (values["snmp_reboot_delay"]
                              if values["snmp_reboot_delay"] is not None
                              else CONF.snmp.reboot_delay)
    driver = values["snmp_driver"]
    values["mib"] = snmp_mibs.DRIVERS.get(driver)
    if driver != snmp_mibs.GENERIC:
        return
    absent = [n for n in _GENERIC_REQUIRED if values[n] in (None, "")]
    for name in absent:
        problems.require(name)
    if absent:
        return
    for name, check in (("snmp_oid_control", snmp_mibs.normalize_oid),
                        ("snmp_oid_control_off", snmp_mibs.normalize_oid),
                        ("snmp_oid_status", snmp_mibs.normalize_oid),
                        ("snmp_status_on", snmp_mibs.parse_values),
                        ("snmp_status_off", snmp_mibs.parse_values)):
        if values[name]:
            try:
                check(values[name])
            except ValueError as exc:
                problems.refuse("field %s (got %r) %s" % (
                    name, params.without_password(values[name]), exc))
    if problems:
        return
    mib = snmp_mibs.generic(values)
    both = sorted(set(mib.status_on) & set(mib.status_off))
    if both:
        # A PDU with separate on and off objects often writes one value (0)
        # to each: read back through one table, an outlet that was off read
        # as on, and every power off then failed after power_timeout.
        problems.refuse(
            "fields snmp_status_on and snmp_status_off (which default to "
            "snmp_value_on and snmp_value_off) both hold %s, so an outlet reading it "
            "would be both on and off; set them to the values snmp_oid_status reads "
            "for on and for off" % ",".join(map(str, both)))
        return
    values["mib"] = mib


SCHEMA = params.Schema(*SCHEMA, rules=[
    params.Rule(_version), params.Rule(_octet_strings), params.Rule(_communities),
    params.Rule(_usm),
    params.Rule(_mib, fields=_GENERIC_REQUIRED)])


def parse(driver_info, node=None):
    """Typed snmp driver_info with derived fields; lists every problem at once.

    Besides the declared fields the result has ``version``,
    ``read_community``/``write_community`` (v1/v2c), ``auth_protocol``/
    ``priv_protocol`` (v3), ``reboot_delay`` and ``mib`` (an OutletMib).
    """
    return SCHEMA.parse(driver_info, node=node, check_unknown=False)


# -- engines -------------------------------------------------------------------

class _Engine:
    """A pysnmp SnmpEngine and the private event loop it is bound to."""

    def __init__(self):
        import asyncio  # at first use: loading the driver (every CLI command) needs no asyncio

        self.loop = asyncio.new_event_loop()
        self.engine = self.run(self._create())
        #: Set when a request was cut off while pysnmp still had it: see borrow().
        self.abandoned = False

    @staticmethod
    async def _create():
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine
        return SnmpEngine()

    def run(self, coroutine, timeout=None):
        """Run ``coroutine`` on this engine's loop, in the calling thread.

        ``timeout``: TimeoutError after that many seconds (the coroutine is
        cancelled; a late answer finds its future done and is dropped).
        """
        import asyncio

        if timeout is not None:
            coroutine = asyncio.wait_for(coroutine, timeout)
        return self.loop.run_until_complete(coroutine)

    def close(self):
        import asyncio

        try:
            self.engine.close_dispatcher()
            self.loop.run_until_complete(asyncio.sleep(0))  # let transports close
        except Exception:  # noqa: BLE001 (closing must not fail the caller)
            LOG.debug("closing an SNMP engine failed", exc_info=True)
        finally:
            self.loop.close()


class _EnginePool:
    """Idle engines by credential key; a borrowed engine has one user at a time."""

    def __init__(self, max_idle=32):
        self.max_idle = max_idle
        self._idle = collections.OrderedDict()  # key -> [engine, ...], LRU first
        self._count = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def borrow(self, key):
        with self._lock:
            engines = self._idle.get(key)
            engine = engines.pop() if engines else None
            if engine is not None:
                self._count -= 1
        if engine is None:
            engine = _Engine()
        try:
            yield engine
        except exception.DriverError:
            if engine.abandoned:
                # pysnmp still holds the cut-off request and would resend it
                # (a SET included) whenever the next borrower runs the loop:
                # to another PDU's thread, outside this PDU's queue, after
                # the operator was told it failed. Closing drops it.
                engine.close()
            else:
                self._give_back(key, engine)  # a refusal or timeout; the engine is fine
            raise
        except BaseException:
            engine.close()
            raise
        else:
            self._give_back(key, engine)

    def _give_back(self, key, engine):
        evicted = []
        with self._lock:
            self._idle.setdefault(key, []).append(engine)
            self._idle.move_to_end(key)
            self._count += 1
            while self._count > self.max_idle:
                old_key, engines = next(iter(self._idle.items()))
                evicted.append(engines.pop(0))
                self._count -= 1
                if not engines:
                    del self._idle[old_key]
        for old in evicted:
            old.close()

    def close_all(self):
        """Close every idle engine (at exit, and for tests)."""
        with self._lock:
            engines = [e for group in self._idle.values() for e in group]
            self._idle.clear()
            self._count = 0
        for engine in engines:
            engine.close()


_POOL = _EnginePool()
atexit.register(_POOL.close_all)


# -- one conversation with a PDU ------------------------------------------------

# Error-status names by what the operator must fix.
_OUTLET_STATUSES = {"noSuchName", "noCreation", "notWritable", "inconsistentName"}
_ACCESS_STATUSES = {"readOnly", "noAccess", "authorizationError"}
_VALUE_STATUSES = {"badValue", "wrongType", "wrongLength", "wrongEncoding",
                   "wrongValue", "inconsistentValue"}
_MISSING_VALUES = ("NoSuchObject", "NoSuchInstance", "EndOfMibView")


#: Report PDUs an agent answers instead of a response (RFC 3412-3414): the
#: counter's OID (without .0), its name, and what to check. pysnmp gives
#: only the OID, which told the operator nothing, and a refusal by the agent
#: is not worth retrying as a connection error.
_REPORTS = {
    "1.3.6.1.6.3.11.2.1.1": ("snmpUnknownSecurityModels", "snmp_version"),
    "1.3.6.1.6.3.11.2.1.3": ("snmpUnknownPDUHandlers",
                             "snmp_context_engine_id and snmp_context_name"),
    "1.3.6.1.6.3.12.1.4": ("snmpUnavailableContexts",
                           "snmp_context_name and snmp_context_engine_id"),
    "1.3.6.1.6.3.12.1.5": ("snmpUnknownContexts",
                           "snmp_context_name and snmp_context_engine_id"),
    "1.3.6.1.6.3.15.1.1.1": ("usmStatsUnsupportedSecLevels",
                             "snmp_auth_protocol and snmp_priv_protocol"),
    "1.3.6.1.6.3.15.1.1.3": ("usmStatsUnknownUserNames", "snmp_user"),
    "1.3.6.1.6.3.15.1.1.4": ("usmStatsUnknownEngineIDs", "snmp_context_engine_id"),
    "1.3.6.1.6.3.15.1.1.5": ("usmStatsWrongDigests",
                             "snmp_auth_key and snmp_auth_protocol"),
    "1.3.6.1.6.3.15.1.1.6": ("usmStatsDecryptionErrors",
                             "snmp_priv_key and snmp_priv_protocol"),
}


class Session:
    """GET and SET of single INTEGER objects on one PDU for one node.

    Every error is a DriverError of the taxonomy whose message names the
    driver_info field to check and never carries a secret.
    """

    def __init__(self, info, engine):
        self.info = info
        self.engine = engine
        self.pdu = "%s:%s" % (info["snmp_address"], info["snmp_port"])
        self._secrets = [info[p.name] for p in SCHEMA
                         if p.secret and info.get(p.name)]
        self._target = None

    # public

    def get(self, oid):
        """The value of ``oid``: an int for INTEGER-like types, else its text."""
        value = self._request("GET", oid)
        if _is_integer(value):
            return int(value)
        return value.prettyPrint()

    def set(self, oid, value):
        from pysnmp.proto.rfc1902 import Integer32
        self._request("SET", oid, Integer32(value))

    # internals

    def _said(self, value):
        """What pysnmp, the OS or the PDU said, with this node's secrets masked.

        The only text in this driver's errors that can hold a secret: our own
        words are never masked (``params.redact`` says why).
        """
        return params.redact(value, self._secrets)

    def _target_for(self):
        if self._target is None:
            from pysnmp.hlapi.v3arch.asyncio import Udp6TransportTarget, UdpTransportTarget
            address = self.info["snmp_address"]
            try:
                family, _, _, _, sockaddr = socket.getaddrinfo(
                    address, self.info["snmp_port"], type=socket.SOCK_DGRAM)[0]
            except (socket.gaierror, UnicodeError) as exc:
                raise exception.DriverConnectionError(
                    "cannot resolve snmp_address %r: %s; check snmp_address"
                    % (address, self._said(exc))) from None
            cls = Udp6TransportTarget if family == socket.AF_INET6 else UdpTransportTarget
            # What cls.create() does, minus its resolver (an executor thread per loop).
            target = cls.__new__(cls)
            target.transport_address = tuple(sockaddr[:2])
            target.__init__(timeout=CONF.snmp.timeout, retries=CONF.snmp.retries)
            self._target = target
        return self._target

    def _auth(self, write):
        from pysnmp.hlapi.v3arch.asyncio import CommunityData, UsmUserData
        from pysnmp.hlapi.v3arch.asyncio import auth as usm
        info = self.info
        if info["version"] == "3":
            auth, priv = info["auth_protocol"], info["priv_protocol"]
            return UsmUserData(
                info["snmp_user"],
                authKey=info["snmp_auth_key"] if auth != "none" else None,
                privKey=info["snmp_priv_key"] if priv != "none" else None,
                authProtocol=getattr(usm, _AUTH_IDS[auth]),
                privProtocol=getattr(usm, _PRIV_IDS[priv]))
        community = info["write_community"] if write else info["read_community"]
        return CommunityData(community, mpModel=0 if info["version"] == "1" else 1)

    async def _send(self, kind, varbinds, write):
        import asyncio

        from pysnmp.entity.rfc3413 import cmdgen
        from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
        from pysnmp.proto.rfc1902 import OctetString
        context_name = self.info.get("snmp_context_name") or ""
        # v1/v2c messages carry no context engine ID, so the field is left
        # unchecked there: one kept from a v3 setup must not reach pysnmp
        # (a bare "invalid literal for int()" when it was not hex).
        engine_id = (self.info.get("snmp_context_engine_id")
                     if self.info["version"] == "3" else None)
        engine = self.engine.engine
        target_name, _ = CommandGeneratorLcdConfigurator().configure(
            engine, self._auth(write), self._target_for(), context_name)
        future = asyncio.get_running_loop().create_future()

        def done(engine, handle, indication, status, index, varbinds, context):
            if not future.done():
                future.set_result((indication, status, index, varbinds))

        generator = cmdgen.SetCommandGenerator() if write else cmdgen.GetCommandGenerator()
        generator.send_varbinds(
            engine, target_name,
            OctetString(hexValue=engine_id) if engine_id else None,
            OctetString(context_name), varbinds, done)
        return await future

    def _request(self, kind, oid, value=None):
        from pyasn1.error import PyAsn1Error
        from pysnmp.error import PySnmpError
        from pysnmp.proto.rfc1902 import ObjectName
        from pysnmp.proto.rfc1905 import errorStatus
        from pysnmp.proto.rfc1902 import Null
        write = kind == "SET"
        try:
            # pysnmp resends and gives up by itself (timeout, retries); the
            # outer bound holds even if its timers run late on a busy loop.
            indication, status, index, varbinds = self.engine.run(self._send(
                kind, [(ObjectName(oid), value if write else Null(""))], write),
                timeout=CONF.snmp.command_timeout)
        except TimeoutError:
            self.engine.abandoned = True
            raise exception.DriverConnectionError(
                "no answer from PDU %s to SNMP v%s %s within [snmp] command_timeout "
                "(%.1fs): check snmp_address and snmp_port, and that the PDU is up "
                "with SNMP enabled" % (self.pdu, self.info["version"], kind,
                                       CONF.snmp.command_timeout)) from None
        except PyAsn1Error:
            # pyasn1's text holds the value it refused, maybe a key: not shown.
            raise exception.DriverSettingsError(
                "SNMP %s %s for PDU %s could not be encoded; check %s" % (
                    kind, oid, self.pdu, self._credential_fields(kind))) from None
        except PySnmpError as exc:
            raise exception.DriverActionError(
                "SNMP %s %s on PDU %s failed: %s"
                % (kind, oid, self.pdu, self._said(exc))) from None
        except OSError as exc:
            raise exception.DriverConnectionError(
                "cannot send SNMP to PDU %s: %s; check snmp_address and "
                "snmp_port" % (self.pdu, self._said(exc))) from None
        if indication:
            raise self._indication_error(kind, indication)
        if int(status):
            name = errorStatus.namedValues.getName(int(status)) or str(int(status))
            raise self._status_error(kind, oid, value, name)
        result = varbinds[0][1] if varbinds else None
        if result is None or type(result).__name__ in _MISSING_VALUES:
            raise self._outlet_error(kind, oid, type(result).__name__)
        return result

    def _outlet_error(self, kind, oid, answer):
        info = self.info
        hint = (" (with SNMP v1 this also means the community may not write: check "
                "snmp_community_write)" if kind == "SET" and info["version"] == "1" else "")
        return exception.DriverSettingsError(
            "PDU %s has no outlet %s (snmp_outlet=%s): it answered %s to SNMP %s %s; "
            "check snmp_outlet and snmp_driver (%s)%s" % (
                self.pdu, info["snmp_outlet"], info["snmp_outlet"], answer, kind, oid,
                info["snmp_driver"], hint))

    def _status_error(self, kind, oid, value, name):
        info = self.info
        if name in _OUTLET_STATUSES:
            return self._outlet_error(kind, oid, name)
        if name in _ACCESS_STATUSES:
            field = "snmp_user" if info["version"] == "3" else self._community_field(kind)
            return exception.DriverAuthError(
                "PDU %s refused SNMP %s %s with %s: the credentials may not %s it; "
                "check %s" % (self.pdu, kind, oid, name,
                              "write" if kind == "SET" else "read", field))
        if name in _VALUE_STATUSES:
            return exception.DriverSettingsError(
                "PDU %s refused value %s for %s (%s); check snmp_driver (%s)%s" % (
                    self.pdu, value, oid, name, info["snmp_driver"],
                    " and snmp_value_on/snmp_value_off"
                    if info["snmp_driver"] == snmp_mibs.GENERIC else ""))
        return exception.DriverActionError(
            "PDU %s failed SNMP %s %s: %s" % (self.pdu, kind, oid, name))

    def _credential_fields(self, kind):
        if self.info["version"] != "3":
            return self._community_field(kind)
        return "snmp_user, snmp_auth_key, snmp_priv_key and snmp_context_name"

    def _community_field(self, kind):
        """The field that gave this request's community: the one to fix."""
        field = "snmp_community_write" if kind == "SET" else "snmp_community_read"
        return field if self.info.get(field) else "snmp_community"

    def _indication_error(self, kind, indication):
        info = self.info
        name = type(indication).__name__
        indication = self._said(indication)
        if name == "RequestTimedOut":
            waited = CONF.snmp.timeout * (CONF.snmp.retries + 1)
            check = ("check %s (agents ignore a wrong community)" % self._community_field(kind)
                     if info["version"] != "3" else
                     "check snmp_context_name and snmp_context_engine_id")
            return exception.DriverConnectionError(
                "no answer from PDU %s to SNMP v%s %s within %.1fs (%d tries): check "
                "snmp_address and snmp_port, that the PDU is up with SNMP enabled, and %s"
                % (self.pdu, info["version"], kind, waited, CONF.snmp.retries + 1, check))
        if name in ("WrongDigest", "AuthenticationFailure", "AuthenticationError"):
            return exception.DriverAuthError(
                "PDU %s rejected the SNMPv3 authentication of user %r (%s): check "
                "snmp_auth_key and snmp_auth_protocol" % (self.pdu, info["snmp_user"],
                                                          indication))
        if name in ("DecryptionError", "EncryptionError"):
            return exception.DriverAuthError(
                "PDU %s could not decrypt SNMPv3 messages of user %r (%s): check "
                "snmp_priv_key and snmp_priv_protocol" % (self.pdu, info["snmp_user"],
                                                          indication))
        if name in ("UnknownUserName", "UnknownSecurityName"):
            return exception.DriverAuthError(
                "PDU %s does not know SNMPv3 user %r: check snmp_user"
                % (self.pdu, info["snmp_user"]))
        if name in ("UnsupportedSecurityLevel", "UnsupportedAuthProtocol",
                    "UnsupportedPrivProtocol", "NoAuthentication", "NoEncryption"):
            return exception.DriverAuthError(
                "PDU %s refused the SNMPv3 security settings of user %r (%s): check "
                "snmp_auth_protocol and snmp_priv_protocol" % (
                    self.pdu, info["snmp_user"], indication))
        if name in ("UnknownCommunityName", "NoSuchContext", "NoSuchView",
                    "NoAccessEntry", "NotInView"):
            return exception.DriverAuthError(
                "PDU %s refused SNMP %s (%s): check snmp_community or snmp_user and "
                "snmp_context_name" % (self.pdu, kind, indication))
        if name == "ReportPduReceived":
            return self._report_error(kind, indication)
        return exception.DriverConnectionError(
            "SNMP %s to PDU %s failed: %s" % (kind, self.pdu, indication))

    def _report_error(self, kind, oid):
        """The agent refused the request with a Report PDU whose counter is ``oid``."""
        oid = str(oid).strip().lstrip(".")
        known = _REPORTS.get(oid[:-2] if oid.endswith(".0") else oid)
        if known is None:  # e.g. usmStatsNotInTimeWindows: worth another try
            return exception.DriverActionError(
                "PDU %s answered SNMP %s with a report (%s) instead of a response"
                % (self.pdu, kind, oid))
        report, fields = known
        cls = (exception.DriverAuthError if report.startswith("usmStats")
               else exception.DriverSettingsError)
        return cls("PDU %s refused SNMP v%s %s with report %s: check %s"
                   % (self.pdu, self.info["version"], kind, report, fields))


def _is_integer(value):
    from pyasn1.type import univ
    return isinstance(value, univ.Integer)


def _pool_key(info):
    if info["version"] != "3":
        return ("community",)
    digest = hashlib.sha256("\0".join(str(info.get(k) or "") for k in (
        "snmp_user", "auth_protocol", "snmp_auth_key", "priv_protocol",
        "snmp_priv_key")).encode()).hexdigest()
    return ("usm", digest)


def pdu_host(address):
    """``address`` spelled one way per PDU; ValueError unless an address.

    IPs in their short form, host names in lower case without the root's
    dot: nodes that wrote ``PDU1.lab``, ``pdu1.lab`` and ``pdu1.lab.`` are
    outlets of one PDU and must share its queue (and PDUDaemon requests
    naming it either way must find them).
    """
    host = params.parse_address(address)
    return host if ":" in host else host.lower().rstrip(".")


@contextlib.contextmanager
def session(info):
    """A :class:`Session` on a borrowed engine, for one driver call."""
    try:
        import pysnmp  # noqa: F401
    except ImportError:
        raise exception.DriverToolMissing(
            "the snmp driver needs the pysnmp library: pip install 'pysnmp>=7'") from None
    with _POOL.borrow(_pool_key(info)) as engine:
        yield Session(info, engine)


# -- the interface -------------------------------------------------------------

class SNMPPower(base.PowerInterface):
    """Power of a node fed by one PDU outlet, switched over SNMP."""

    driver_info_schema = SCHEMA
    config_group = "snmp"

    def parse_driver_info(self, task):
        return parse(task.node.driver_info, node=task.node.uuid)

    def check_config(self):
        if importlib.util.find_spec("pysnmp") is None:
            raise exception.ConfigInvalid(
                "the snmp power interface needs the pysnmp library: pip install "
                "'pysnmp>=7', or remove snmp from enabled_power_interfaces",
                option="enabled_power_interfaces")
        waits = CONF.snmp.timeout * (CONF.snmp.retries + 1)
        if waits > CONF.snmp.command_timeout:
            raise exception.ConfigInvalid(
                "[snmp] timeout * (retries + 1) = %.1fs exceeds [snmp] command_timeout "
                "(%.1fs), so one request could outlast it: lower timeout or retries, or "
                "raise command_timeout" % (waits, CONF.snmp.command_timeout),
                option="command_timeout")

    def controller_key(self, task):
        """The PDU (address and port), shared by all of its outlets."""
        info = task.node.driver_info or {}
        address = info.get("snmp_address")
        try:
            address = pdu_host(address)
        except ValueError:
            pass
        try:
            port = int(info.get("snmp_port") or 161)
        except (TypeError, ValueError):
            port = info.get("snmp_port")
        return "snmp:%s:%s" % (address, port)

    power_states = (PowerState.ON, PowerState.OFF, PowerState.REBOOT)

    def get_power_state(self, task):
        info = self.parse_driver_info(task)
        with session(info) as snmp:
            return self._read(task, info, snmp)

    def set_power_state(self, task, power_state, timeout=None):
        power_state = PowerState.parse(power_state)
        if power_state == PowerState.REBOOT:
            return self.reboot(task, timeout)
        if power_state not in (PowerState.ON, PowerState.OFF):
            raise exception.InvalidPowerState(
                "Node %s: a PDU outlet can only be switched on, off or rebooted, "
                "not %s" % (task.node.uuid, power_state))
        info = self.parse_driver_info(task)
        with session(info) as snmp:
            self._switch(task, info, snmp, power_state, timeout)

    def reboot(self, task, timeout=None):
        """Off, ``snmp_reboot_delay`` seconds, on: one command, as PDUDaemon does."""
        info = self.parse_driver_info(task)
        with session(info) as snmp:
            self._switch(task, info, snmp, PowerState.OFF, timeout)
            task.logger.debug("outlet %s off; on again in %.1fs", info["snmp_outlet"],
                              info["reboot_delay"])
            time.sleep(info["reboot_delay"])
            # The delay is where a paused conductor's lease runs out: switch the
            # outlet on only while the node is still this task's.
            retry.confirm_lease(task)
            self._switch(task, info, snmp, PowerState.ON, timeout)

    # helpers

    def _read(self, task, info, snmp):
        mib, outlet = info["mib"], info["snmp_outlet"]
        value = snmp.get(mib.status(outlet))
        state = mib.state(value)
        if state is None:
            task.logger.warning(
                "PDU %s outlet %s reads %r, which snmp_driver %s maps to neither on "
                "(%s) nor off (%s)", snmp.pdu, outlet, value, info["snmp_driver"],
                ",".join(map(str, mib.status_on)), ",".join(map(str, mib.status_off)))
            return PowerState.ERROR
        return state

    def _switch(self, task, info, snmp, target, timeout):
        """Write the outlet's command, then read until it reports ``target``."""
        oid, value = info["mib"].control(info["snmp_outlet"], target)
        task.logger.debug("SNMP SET %s = %s on PDU %s", oid, value, snmp.pdu)
        snmp.set(oid, value)
        wait = timeout if timeout else CONF.snmp.power_timeout
        deadline = time.monotonic() + wait
        pause = 0.1
        while True:
            state = self._read(task, info, snmp)
            if state == target:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise exception.DriverActionError(
                    "PDU %s outlet %s still reads %s %.1fs after being switched %s; the "
                    "PDU may delay switching (outlet sequencing): raise [snmp] "
                    "power_timeout, or check snmp_driver (%s)" % (
                        snmp.pdu, info["snmp_outlet"], state, wait, target,
                        info["snmp_driver"]))
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 1.0)
