"""ipmitool power and management: BMCs over IPMI 2.0 lanplus (or 1.5 lan).

Every call runs Debian's ``ipmitool`` once, as Ironic does, rather than
speaking IPMI from Python: ipmitool is what operators already debug BMCs
with, it knows every cipher suite and vendor quirk, and an ``ipmitool``
command line in the debug log can be pasted into a shell as it is.

The password never reaches the command line, where ``ps`` and
``/proc/<pid>/cmdline`` show it to every local user: ipmitool gets ``-E`` and
reads ``IPMI_PASSWORD`` from its environment, which only its own user (and
root) can read. ``IPMITOOL_PASSWORD`` takes precedence over it in ipmitool,
so an inherited one is removed.

ipmitool says why it failed only in words, and the words that tell a wrong
password from a dead BMC ("RAKP 2 HMAC is invalid", "Get Auth
Capabilities error") are printed only with ``-v``; so it always runs with
``-v`` and :func:`classify` maps its stderr onto the error taxonomy.
Retries belong to :mod:`hwdrivers.drivers.retry` (``[ipmi]
command_retry_timeout``): one call here is one ipmitool run, bounded by its
own ``-N``/``-R`` and by ``[ipmi] command_timeout``, after which its whole
process group is killed.
"""

import logging
import os
import re
import shutil
import signal
import subprocess
import time


from hwdrivers.common import boot_devices
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conf import CONF
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers import retry

LOG = logging.getLogger(__name__)

PRIV_LEVELS = ("ADMINISTRATOR", "OPERATOR", "USER", "CALLBACK")
PROTOCOL_VERSIONS = ("2.0", "1.5")
BOOT_MODES = ("bios", "uefi")
BRIDGING = ("no", "single", "dual")
_PASSWORD_ENV = ("IPMI_PASSWORD", "IPMITOOL_PASSWORD", "IPMI_KGKEY")
#: Longest password (bytes) each IPMI version carries; ipmitool refuses longer.
_PASSWORD_LIMITS = {"2.0": 20, "1.5": 16}
#: Longest user name (bytes), in both versions; ipmitool refuses longer.
_USERNAME_LIMIT = 16


def _check_session(values, problems):
    """What IPMI allows across fields: cipher suites are 2.0's, name and password lengths.

    ipmitool refuses a longer name or password before sending anything, in
    words no rule of :func:`classify` knows; unchecked here, that was an
    action error retried until [ipmi] command_retry_timeout (30 s) for a
    setting no retry can fix.
    """
    version = values["ipmi_protocol_version"]
    if values["ipmi_cipher_suite"] is not None and version == "1.5":
        problems.refuse("field ipmi_cipher_suite only applies to IPMI 2.0: unset it "
                        "or set ipmi_protocol_version=2.0")
    if values["ipmi_cipher_suite"] == 0:
        # "Cipher zero": a BMC that offers it lets anyone in with any
        # password, and the session is neither signed nor encrypted.
        problems.refuse("field ipmi_cipher_suite: 0 authenticates nothing (the BMC takes "
                        "any password) and encrypts nothing; use a suite with "
                        "authentication, e.g. 3 or 17, unset it for the strongest the "
                        "BMC offers, and disable cipher suite 0 on the BMC")
    if values.get("ipmi_hex_kg_key") and version == "1.5":
        problems.refuse("field ipmi_hex_kg_key only applies to IPMI 2.0: unset it "
                        "or set ipmi_protocol_version=2.0")
    password = values["ipmi_password"] or ""
    if len(password.encode("utf-8")) > _PASSWORD_LIMITS[version]:
        problems.refuse("field ipmi_password is longer than the %d bytes IPMI %s "
                        "allows" % (_PASSWORD_LIMITS[version], version))
    if len((values["ipmi_username"] or "").encode("utf-8")) > _USERNAME_LIMIT:
        problems.refuse("field ipmi_username is longer than the %d bytes IPMI allows"
                        % _USERNAME_LIMIT)
    if "\0" in password or "\0" in (values["ipmi_username"] or ""):
        problems.refuse("fields ipmi_username and ipmi_password must not hold NUL "
                        "characters")


#: ipmitool option for each bridging field, in the order Ironic passes them.
_BRIDGE_OPTIONS = (("ipmi_local_address", "-m"), ("ipmi_transit_channel", "-B"),
                   ("ipmi_transit_address", "-T"), ("ipmi_target_channel", "-b"),
                   ("ipmi_target_address", "-t"))
#: The fields each ipmi_bridging value needs (ipmi_local_address is optional:
#: ipmitool discovers it).
_BRIDGE_NEEDS = {"no": (),
                 "single": ("ipmi_target_channel", "ipmi_target_address"),
                 "dual": ("ipmi_target_channel", "ipmi_target_address",
                          "ipmi_transit_channel", "ipmi_transit_address")}
#: Longest Kg key (bytes) ipmitool takes.
_KG_LIMIT = 20


def _byte_number(limit):
    """A check for an IPMB address or channel: decimal or 0x hex, 0..``limit``.

    ipmitool reads these with strtol base 0, where "010" is octal 8; such a
    spelling is refused rather than guessed.
    """
    def check(text):
        try:
            number = int(text.strip(), 0)
        except ValueError:
            raise ValueError("must be a number: decimal without leading zeros, or 0x "
                             "hex (e.g. 0x20)") from None
        if not 0 <= number <= limit:
            raise ValueError("must be from 0 to %d (0x%x)" % (limit, limit))
    return check


def _check_kg_key(text):
    """The key must go to ipmitool through IPMI_KGKEY (-K), never its ``-y`` argument.

    An environment variable is a C string: a zero byte inside the key
    would cut it short there. ipmitool pads the key with zero bytes, so
    trailing ones are dropped safely.
    """
    if len(text) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", text):
        raise ValueError("must be an even number of hex digits (0-9, a-f)")
    key = bytes.fromhex(text).rstrip(b"\0")
    if len(key) > _KG_LIMIT:
        raise ValueError("must be at most %d bytes (%d hex digits)"
                         % (_KG_LIMIT, 2 * _KG_LIMIT))
    if b"\0" in key:
        raise ValueError("holds a zero byte (00) before its last non-zero byte, which "
                         "ipmitool can only take on its command line, visible to every "
                         "local user; change the BMC's Kg key")


def kg_key(info):
    """The Kg key's bytes as ipmitool's IPMI_KGKEY wants them, or None."""
    key = bytes.fromhex(info.get("ipmi_hex_kg_key") or "").rstrip(b"\0")
    return key or None


def _check_bridging(values, problems):
    """Bridged requests need their target (and transit) channel and address.

    Without them, or with targets set but ipmi_bridging "no", every command
    would go to the BMC at ipmi_address itself: a chassis manager, whose
    power off turns every blade behind it off. Ironic ignores target fields
    when ipmi_bridging is "no"; refused here instead. ipmi_local_address
    alone says nothing about where commands go: ignored without bridging,
    as in Ironic.
    """
    bridging = values["ipmi_bridging"]
    for name in _BRIDGE_NEEDS[bridging]:
        if values[name] is None:
            problems.require(name)
    stray = [name for name in _BRIDGE_NEEDS["dual"]
             if values[name] is not None and name not in _BRIDGE_NEEDS[bridging]]
    if stray:
        problems.refuse("field(s) %s only apply to bridged requests, but "
                        "ipmi_bridging is %s: set ipmi_bridging=%s, or remove them"
                        % (", ".join(stray), bridging,
                           "dual" if bridging == "single" else "single or dual"))


_P = params.Param
SCHEMA = params.Schema(
    _P("ipmi_address", "BMC IP address or host name", required=True, type="address"),
    _P("ipmi_port", "BMC UDP port", type="port", default=623),
    _P("ipmi_username", "BMC user name (default: the anonymous user)"),
    _P("ipmi_password", "BMC password (handed to ipmitool through its "
       "environment, never its command line)", secret=True),
    _P("ipmi_priv_level", "Privilege level the session asks for; the account "
       "must hold it on the BMC", type="choice", choices=PRIV_LEVELS,
       default="ADMINISTRATOR"),
    _P("ipmi_protocol_version", "IPMI version: 2.0 (RMCP+, ipmitool -I "
       "lanplus) or 1.5 (ipmitool -I lan, unencrypted)", type="choice",
       choices=PROTOCOL_VERSIONS, default="2.0"),
    _P("ipmi_cipher_suite", "RMCP+ cipher suite ID, e.g. 3 or 17 (default: the "
       "strongest the BMC offers; IPMI 2.0 only; 0, which authenticates nothing, is "
       "refused)", type="int", min=0, max=255),
    _P("ipmi_boot_mode", "Firmware boot mode the boot device is set for: bios "
       "(legacy) or uefi (sends efiboot) (default: the node's "
       "properties/capabilities boot_mode, else bios)", type="choice",
       choices=BOOT_MODES),
    _P("ipmi_disable_boot_timeout", "Ask the BMC to keep the boot device even if "
       "no power action follows within 60 s (IPMI boot option parameter 3), as "
       "Ironic does", type="bool", default=True),
    _P("ipmi_force_boot_device", "Send the node's persistent boot device again "
       "before every power on and reboot, for BMCs that forget it", type="bool",
       default=False),
    _P("ipmi_hex_kg_key", "Kg key (BMC key) of IPMI 2.0 sessions, in hex; handed "
       "to ipmitool through its environment (-K), never its command line",
       secret=True, check=_check_kg_key),
    _P("ipmi_bridging", "Bridge requests through the BMC at ipmi_address to "
       "another controller (blade chassis): no, single or dual", type="choice",
       choices=BRIDGING, default="no"),
    _P("ipmi_local_address", "Local IPMB address for bridged requests, e.g. "
       "0x20 (ipmitool -m; default: ipmitool discovers it)",
       check=_byte_number(255)),
    _P("ipmi_target_channel", "Destination channel of bridged requests "
       "(ipmitool -b); required with ipmi_bridging single or dual",
       check=_byte_number(15)),
    _P("ipmi_target_address", "Destination IPMB address of bridged requests, "
       "e.g. 0x72 (ipmitool -t); required with ipmi_bridging single or dual",
       check=_byte_number(255)),
    _P("ipmi_transit_channel", "Transit channel of dual-bridged requests "
       "(ipmitool -B); required with ipmi_bridging dual", check=_byte_number(15)),
    _P("ipmi_transit_address", "Transit IPMB address of dual-bridged requests "
       "(ipmitool -T); required with ipmi_bridging dual", check=_byte_number(255)),
    rules=[params.Rule(_check_session, fields=(
        "ipmi_protocol_version", "ipmi_cipher_suite", "ipmi_password",
        "ipmi_username")),
           params.Rule(_check_bridging, fields=(
               "ipmi_bridging",) + tuple(name for name, _ in _BRIDGE_OPTIONS))],
)
del _P

#: Boot device -> ipmitool ``chassis bootdev`` argument.
BOOT_DEVICES = {boot_devices.PXE: "pxe", boot_devices.DISK: "disk",
                boot_devices.CDROM: "cdrom", boot_devices.BIOS: "bios",
                boot_devices.SAFE: "safe"}

#: IPMI boot flags byte 2, bits 5..2 (boot device selector) -> boot device.
_SELECTOR_DEVICES = {0x1: boot_devices.PXE, 0x2: boot_devices.DISK,
                     0x3: boot_devices.SAFE, 0x5: boot_devices.CDROM,
                     0x6: boot_devices.BIOS, 0xF: boot_devices.FLOPPY}


def parse(task):
    """Typed driver_info of the node, every problem reported at once."""
    node = task.node
    info = SCHEMA.parse(node.driver_info, node=node.uuid, check_unknown=False)
    info["boot_mode"] = info["ipmi_boot_mode"] or _capability_boot_mode(node) or "bios"
    return info


def _capability_boot_mode(node):
    """boot_mode from Ironic-style ``properties.capabilities`` ("boot_mode:uefi,...")."""
    mode = str(base.capabilities(node).get("boot_mode", "")).strip().lower()
    return mode if mode in BOOT_MODES else None


def bmc_of(info):
    """The BMC as it appears in keys and messages: ``address:port``."""
    address = info["ipmi_address"]
    return "%s:%s" % ("[%s]" % address if ":" in address else address, info["ipmi_port"])


# -- errors ----------------------------------------------------------------------

#: ipmitool's words (lower case) for IPMI completion codes that refuse a
#: command for good (0xc1, 0xc2, 0xc7, 0xc9, 0xcc, 0xcd, 0xd6): no BMC changes
#: its mind on a retry, as ipmi_sim answering 0xcc to every chassis control
#: without a chassis script showed (30 s of retries for one refusal). Ironic
#: retries none of them either. 0xd5 ("not supported in present state")
#: is not here: it depends on the machine's state, which changes.
_REFUSED_FOR_GOOD = ("invalid command", "invalid data field in request",
                     "parameter out of range", "request data length invalid",
                     "command illegal for specified sensor or record type",
                     "cannot execute command, command disabled")

#: RMCP+ Open Session Response statuses (ipmitool: "Error in open session
#: response message : <words>") for a cipher suite the BMC does not offer or
#: allow. No retry changes that; Ironic's documentation gives
#: ipmi_cipher_suite as the fix.
_CIPHER_REFUSED = ("no matching cipher suite", "invalid authentication algorithm",
                   "invalid integrity algorithm", "invalid confidentiality algorithm",
                   "no matching authentication algorithm", "no matching integrity payload")

# (substring of ipmitool's stderr, lower case) -> (error class, what to check).
# First match wins, so specific texts come before ipmitool's closing line
# "Unable to establish IPMI v2 / RMCP+ session", which every failed login ends with.
_RULES = (
    # A login message lost or answered after ipmitool's -N wait: ipmitool sends
    # RAKP 1 again, the BMC answers with a fresh random number, and the late
    # answer to the first fails the check ("RAKP 2 HMAC is invalid") or the
    # session is half made ("Set Session Privilege Level to ... failed"). The
    # password is not known to be wrong then: retried, not an auth error.
    ("no response from rakp", exception.DriverConnectionError,
     "messages of the login to the BMC were lost or answered late, so ipmitool's "
     "verdict on the credentials does not count: check the network to the BMC, or "
     "raise [ipmi] timeout if the BMC is only slow"),
    # RAKP 2 verified the password; the session key made from the Kg key did
    # not verify: the BMC has a Kg key and ours is missing or different.
    ("rakp 4 message has invalid integrity check value", exception.DriverAuthError,
     "the BMC accepted the password of user %(user)s but not the Kg key: set "
     "ipmi_hex_kg_key to the BMC's Kg key, or unset it if the BMC has none"),
    ("rakp 2 hmac is invalid", exception.DriverAuthError,
     "the BMC rejected the password of user %(user)s: check ipmi_password"),
    ("rakp 4 hmac is invalid", exception.DriverAuthError,
     "the BMC rejected the password of user %(user)s: check ipmi_password"),
    ("unauthorized name", exception.DriverAuthError,
     "the BMC does not know user %(user)s: check ipmi_username"),
    ("rakp 2 message indicates an error", exception.DriverAuthError,
     "the BMC refused the login of user %(user)s: check ipmi_username, ipmi_password "
     "and ipmi_priv_level"),
    ("rakp 4 message indicates an error", exception.DriverAuthError,
     "the BMC refused the login of user %(user)s: check ipmi_username and "
     "ipmi_password"),
    ("set session privilege level to", exception.DriverAuthError,
     "user %(user)s may not open a session at privilege %(priv)s: lower "
     "ipmi_priv_level or raise the account's privilege on the BMC"),
    ("insufficient privilege", exception.DriverAuthError,
     "user %(user)s at privilege %(priv)s may not do this: set ipmi_priv_level to "
     "OPERATOR or ADMINISTRATOR (the account must hold it)"),
    ("invalid user name", exception.DriverAuthError,
     "the BMC does not know user %(user)s: check ipmi_username"),
    ("activate session error", exception.DriverAuthError,
     "the BMC refused the IPMI 1.5 login of user %(user)s: check ipmi_username and "
     "ipmi_password"),
    # IPMI 1.5: a BMC drops an Activate Session whose auth code (made with the
    # password) does not verify, so a wrong password reads as no answer.
    ("activate session command failed", exception.DriverConnectionError,
     "the BMC did not answer the IPMI 1.5 login of user %(user)s, which is how BMCs "
     "ignore a wrong password: check ipmi_password, then that the BMC is reachable"),
    ("password is longer than", exception.DriverSettingsError,
     "check ipmi_password and ipmi_protocol_version"),
    ("unsupported cipher suite", exception.DriverSettingsError,
     "ipmitool does not know cipher suite %(cipher)s: check ipmi_cipher_suite"),
    *((words, exception.DriverSettingsError,
       "the BMC refused cipher suite %(cipher)s: set ipmi_cipher_suite to one the "
       "BMC offers (17 or 3; ipmitool chooses when it is unset)")
      for words in _CIPHER_REFUSED),
    ("is not what we requested", exception.DriverSettingsError,
     "the BMC does not offer cipher suite %(cipher)s: check ipmi_cipher_suite, or "
     "unset it to use the strongest the BMC offers"),
    *(("failed: " + words, exception.DriverUnsupportedAction,
       "the BMC refuses this command or its options for good, so it is not "
       "retried: check the BMC's firmware and settings, or do without it")
      for words in _REFUSED_FOR_GOOD),
    # Completion code 0x83, "NAK on write", comes from the IPMB: the BMC sent
    # a bridged request on and no controller took it. ipmitool has no words
    # for it. Retried: a blade being reseated answers again.
    ("unknown (0x83)", exception.DriverActionError,
     "the BMC found no controller at the bridged target (IPMB NAK): check "
     "ipmi_target_channel and ipmi_target_address (and ipmi_transit_* when "
     "dual), and that the blade is in place"),
    ("address lookup for", exception.DriverConnectionError,
     "cannot resolve ipmi_address %(address)s: check ipmi_address and DNS"),
    ("insufficient resources for session", exception.DriverConnectionError,
     "the BMC has no free session slot (too many clients); retried"),
    ("get auth capabilities", exception.DriverConnectionError,
     "no answer from the BMC: check ipmi_address and ipmi_port, that the BMC is up "
     "and IPMI over LAN is enabled on it"),
    ("get channel authentication capabilities", exception.DriverConnectionError,
     "no answer from the BMC: check ipmi_address and ipmi_port, that the BMC is up "
     "and IPMI over LAN is enabled on it"),
    ("no response", exception.DriverConnectionError,
     "the BMC stopped answering: check that it is up"),
    ("unable to establish", exception.DriverConnectionError,
     "no IPMI session with the BMC: check ipmi_address, ipmi_port and "
     "ipmi_protocol_version"),
)

# Lines -v adds on success too; they must not be quoted as the reason.
_NOISE = re.compile(r"^(loading iana pen registry|using best available cipher suite|"
                    r"running get vso capabilities|invalid completion code received: "
                    r"invalid command|discovered ipmb address|$)", re.IGNORECASE)


def reason_text(stderr):
    """ipmitool's own words, without the lines ``-v`` adds on every run.

    With a user name and no password (no ``-E``) ipmitool prompts
    "Password: " on stderr without a newline and reads nothing (no
    terminal); the prompt is dropped, not quoted as part of the reason.
    """
    stderr = re.sub(r"^Password: ", "", stderr)
    lines = [line.strip().lstrip("> ") for line in stderr.splitlines()]
    return "; ".join(line for line in lines if not _NOISE.match(line))


def _or(value, absent):
    return absent if value is None else value


def classify(stderr, info):
    """(error class, hint) for ipmitool's stderr; DriverActionError when unknown."""
    text = stderr.lower()
    values = {"user": repr(info.get("ipmi_username") or "(anonymous)"),
              "priv": info.get("ipmi_priv_level"),
              "cipher": _or(info.get("ipmi_cipher_suite"), "(ipmitool's choice)"),
              "address": info.get("ipmi_address")}
    for needle, cls, hint in _RULES:
        if needle in text:
            return cls, hint % values
    return exception.DriverActionError, None


# -- running ipmitool ----------------------------------------------------------------

def tool_path():
    """The ipmitool executable, or DriverToolMissing saying how to get one."""
    configured = CONF.ipmi.ipmitool_path
    found = shutil.which(configured)
    if found is None:
        raise exception.DriverToolMissing(
            "ipmitool not found (%s %r): install it (Debian/Ubuntu: apt install "
            "ipmitool) or set [ipmi] ipmitool_path" % (
                "no executable at" if os.sep in configured else "not on PATH as",
                configured))
    return found


def message_wait():
    """Seconds ipmitool waits for one unanswered message before giving up.

    ipmitool sends a message ``-R`` times, waiting ``-N`` seconds longer
    each time (measured with ipmitool 1.8.19 against a UDP black hole: -N 1
    -R 1: 2 s, -R 2: 6 s, -R 3: 12 s, -N 2 -R 1: 4 s).
    """
    return CONF.ipmi.timeout * CONF.ipmi.retries * (CONF.ipmi.retries + 1)


def build_argv(info, args, tool="ipmitool"):
    """The full command line: never holds the password (it goes in the environment)."""
    lanplus = info["ipmi_protocol_version"] == "2.0"
    argv = [tool, "-I", "lanplus" if lanplus else "lan",
            "-H", info["ipmi_address"], "-p", str(info["ipmi_port"]),
            "-L", info["ipmi_priv_level"],
            "-N", str(CONF.ipmi.timeout), "-R", str(CONF.ipmi.retries), "-v"]
    if info["ipmi_username"]:
        argv += ["-U", info["ipmi_username"]]
    if info["ipmi_password"]:
        argv.append("-E")
    if lanplus and info["ipmi_cipher_suite"] is not None:
        argv += ["-C", str(info["ipmi_cipher_suite"])]
    if lanplus and kg_key(info):
        argv.append("-K")
    return argv + _bridge_args(info) + list(args)


def _bridge_args(info):
    """ipmitool's bridging options (-m, -B, -T, -b, -t) for the fields that are set."""
    if info.get("ipmi_bridging", "no") == "no":
        return []
    return [arg for name, option in _BRIDGE_OPTIONS if info.get(name) is not None
            for arg in (option, str(int(info[name].strip(), 0)))]


def secret_env(info):
    """IPMI_PASSWORD and IPMI_KGKEY for ipmitool's -E and -K: the secrets, out of argv.

    The key's bytes become a str that ``subprocess`` encodes back to the
    same bytes (surrogateescape), so keys that are not UTF-8 pass whole.
    """
    env = {}
    if info["ipmi_password"]:
        env["IPMI_PASSWORD"] = info["ipmi_password"]
    key = kg_key(info)
    if key:
        env["IPMI_KGKEY"] = os.fsdecode(key)
    return env


def build_env(info):
    """Our environment, with the password as the only IPMI_PASSWORD ipmitool sees."""
    env = {k: v for k, v in os.environ.items() if k not in _PASSWORD_ENV}
    env["LC_ALL"] = "C"  # ipmitool's messages are parsed: keep them in English
    env.update(secret_env(info))
    return env


def _mask(text, info):
    """ipmitool's own words with the password masked (``params.redact``)."""
    return params.redact(text, [info.get("ipmi_password"), info.get("ipmi_hex_kg_key")])


def run(task, info, args, action):
    """Run ipmitool with ``args``; its stdout, or a DriverError of the taxonomy.

    ``action`` words the error ("power on", "reading the boot device").
    """
    argv = build_argv(info, args, tool_path())
    bmc = bmc_of(info)
    task.logger.debug("running %s", " ".join(argv))
    limit = CONF.ipmi.command_timeout
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=build_env(info),
                                start_new_session=True)  # its own group: kill it whole
    except OSError as exc:  # vanished or not executable since tool_path() looked
        raise exception.DriverToolMissing(
            "cannot run ipmitool %s: %s; install it or fix [ipmi] ipmitool_path"
            % (argv[0], exc.strerror or exc)) from None
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise exception.DriverConnectionError(
            "%s: ipmitool did not finish within %.1fs and was killed; the BMC %s is "
            "slow or not answering (raise [ipmi] command_timeout if it is only slow)"
            % (action, limit, bmc)) from None
    except BaseException:
        _kill(proc)
        raise
    out = out.decode("utf-8", "replace")
    err = err.decode("utf-8", "replace")
    task.logger.debug("ipmitool %s exited %s after %.2fs", " ".join(args),
                      proc.returncode, time.monotonic() - started)
    if proc.returncode != 0:
        raise failure(info, action, err, proc.returncode)
    return out, err


def failure(info, action, stderr, returncode):
    """The DriverError for a failed run: what failed, ipmitool's words, the fix."""
    cls, hint = classify(stderr, info)
    said = reason_text(stderr)
    said = _mask(said, info) if said else "no message, exit status %s" % returncode
    message = "%s failed on BMC %s: %s" % (action, bmc_of(info), said)
    if hint:
        message += " (%s)" % hint
    return cls(message)


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


# -- the interfaces ------------------------------------------------------------------

#: ``[ipmi] ipmitool_path`` values already warned about as missing (check_config).
_WARNED_MISSING = set()


class _IPMIBase:
    """What power and management share: driver_info, controller, tool check."""

    driver_info_schema = SCHEMA
    config_group = "ipmi"

    def parse_driver_info(self, task):
        return parse(task)

    def check_config(self):
        """A missing ipmitool is reported per call (DriverToolMissing), not at start.

        Refusing to start would take every other driver of the conductor
        down with it, and the binary may be installed after start; so only
        warn here, once per path and process: power, management and console
        are each checked, and the same warning three times in a row (before
        every one-shot command's own error) said nothing more.
        """
        path = CONF.ipmi.ipmitool_path
        if shutil.which(path) is None and path not in _WARNED_MISSING:
            _WARNED_MISSING.add(path)
            LOG.warning("ipmitool (%s) is not installed; ipmi nodes will fail with a "
                        "tool-missing error until it is (apt install ipmitool)",
                        CONF.ipmi.ipmitool_path)
        waits = message_wait()
        if waits >= CONF.ipmi.command_timeout:
            raise exception.ConfigInvalid(
                "ipmitool waits up to [ipmi] timeout * retries * (retries + 1) = %ds for "
                "an unanswered message, which is not less than [ipmi] command_timeout "
                "(%.1fs): every silent BMC would be killed instead of reported; lower "
                "timeout or retries, or raise command_timeout"
                % (waits, CONF.ipmi.command_timeout), option="command_timeout")

    def controller_key(self, task):
        """The BMC (address and port): one queue per BMC, shared by both interfaces.

        A host name in lower case: names are case-insensitive, and two
        spellings of one BMC must not make two queues.
        """
        info = task.node.driver_info or {}
        address = info.get("ipmi_address")
        try:
            address = params.parse_address(address).lower()
        except ValueError:
            pass
        try:
            port = int(info.get("ipmi_port") or 623)
        except (TypeError, ValueError):
            port = info.get("ipmi_port")
        if isinstance(address, str) and ":" in address:
            address = "[%s]" % address
        return "ipmi:%s:%s" % (address, port)


_STATUS = re.compile(r"Chassis Power is (on|off)", re.IGNORECASE)
#: ipmitool's words when the BMC answered ``chassis power cycle`` with an error.
_CYCLE_REFUSED = "power control to cycle failed"


class IPMIPower(_IPMIBase, base.PowerInterface):
    """Chassis power through ``ipmitool power``."""

    power_states = (PowerState.ON, PowerState.OFF, PowerState.REBOOT,
                    PowerState.SOFT_OFF, PowerState.SOFT_REBOOT)

    def get_power_state(self, task):
        return self._status(task, parse(task))

    def set_power_state(self, task, power_state, timeout=None):
        """Ask the BMC; the caller (conductor, CLI) verifies the state afterwards."""
        power_state = PowerState.parse(power_state)
        info = parse(task)
        if power_state == PowerState.ON:
            self._force_boot_device(task, info)
            run(task, info, ["power", "on"], "power on")
        elif power_state == PowerState.OFF:
            self._off(task, info, ["power", "off"], "power off")
        elif power_state == PowerState.SOFT_OFF:
            self._off(task, info, ["power", "soft"], "soft power off")
        elif power_state == PowerState.REBOOT:
            self._reboot(task, info)
        elif power_state == PowerState.SOFT_REBOOT:
            self._soft_reboot(task, info, timeout)
        else:
            raise exception.InvalidPowerState(
                "Node %s: ipmitool power cannot do %s; use on, off, reboot, soft-off or "
                "soft-reboot" % (task.node.uuid, power_state.value))

    def reboot(self, task, timeout=None):
        self._reboot(task, parse(task))

    # helpers

    def _status(self, task, info):
        out, _ = run(task, info, ["power", "status"], "reading the power state")
        match = _STATUS.search(out)
        if match is None:
            raise exception.DriverActionError(
                "reading the power state of BMC %s: unexpected answer %r from ipmitool "
                "power status" % (bmc_of(info), _mask(out.strip(), info)[:200]))
        return PowerState.ON if match.group(1).lower() == "on" else PowerState.OFF

    def _off(self, task, info, args, action):
        """Power off; a BMC that refuses because the machine is already off is fine.

        Many BMCs answer 0xD5 ("not supported in present state") to a soft
        off, some to a hard off, of a machine that is off; retrying that
        until the deadline would fail a request that is already satisfied.
        """
        try:
            run(task, info, args, action)
        except exception.DriverActionError as exc:
            if ("present state" not in str(exc).lower()
                    or self._status(task, info) != PowerState.OFF):
                raise
            task.logger.debug("%s refused: the machine is already off", action)

    def _force_boot_device(self, task, info):
        """With ipmi_force_boot_device, send the node's persistent boot device again.

        Some BMCs forget boot flags across power cycles even when told they
        are persistent, so the persistent device is sent again right before
        the machine starts: the one :meth:`IPMIManagement.set_boot_device`
        kept in driver_internal_info (whoever set it: the deploy's disk
        too), else the one the conductor recorded on the node
        (``boot_device``, ``boot_device_persistent``). A one-time device
        set since is not overridden: that boot skips the re-send, once.
        """
        if not info["ipmi_force_boot_device"]:
            return
        internal = task.node.driver_internal_info or {}
        if internal.get(NEXT_BOOT_PERSISTENT) is False:
            base.update_internal_info(task, **{NEXT_BOOT_PERSISTENT: None})
            return
        if PERSISTENT_BOOT_DEVICE in internal:
            device = internal[PERSISTENT_BOOT_DEVICE]
        elif getattr(task.node, "boot_device_persistent", False):
            device = getattr(task.node, "boot_device", None)
        else:
            device = None
        if device in BOOT_DEVICES:
            set_boot_device(task, info, device, True)

    def _reboot(self, task, info):
        """Power cycle; if the BMC refuses, off, verify off, on; when off, just on.

        ``chassis power cycle`` is one command the BMC carries out by itself,
        so a conductor dying halfway cannot leave the machine off. But many
        BMCs have no cycle (VirtualBMC; pyghmi's fakebmc answers 0xcc, "Invalid
        data field in request") and every BMC refuses it while the machine is
        off (0xd5). Whatever the BMC's reason — ipmitool then says "Set
        Chassis Power Control to Cycle failed: <reason>" — the reboot falls
        back to what Ironic always does: power off, wait until the BMC reads
        off, power on (the caller verifies on). A machine that is off is
        powered on, as Ironic's reboot of an off node does.
        """
        self._force_boot_device(task, info)
        if self._status(task, info) == PowerState.ON:
            try:
                run(task, info, ["power", "cycle"], "reboot (power cycle)")
                return
            except (exception.DriverActionError, exception.DriverUnsupportedAction) as exc:
                if _CYCLE_REFUSED not in str(exc).lower():
                    raise
                task.logger.debug("%s; powering off and on instead", exc)
            self._off(task, info, ["power", "off"], "reboot (power off)")
            self._wait_off(task, info, CONF.conductor.power_state_change_timeout,
                           "reboot: the machine behind BMC %s was still on %.0fs after "
                           "power off (raise [conductor] power_state_change_timeout if "
                           "it is slow)")
            # Off is sent: the on only while the node is still this task's (a
            # conductor paused here must not power on a machine another drives).
            retry.confirm_lease(task)
        run(task, info, ["power", "on"], "reboot (power on)")

    def _wait_off(self, task, info, wait, message):
        """Poll the BMC until it reads off; DriverActionError(message) after ``wait`` s."""
        deadline = time.monotonic() + wait
        pause = 0.1
        while self._status(task, info) != PowerState.OFF:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise exception.DriverActionError(message % (bmc_of(info), wait))
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 2.0)

    def _soft_reboot(self, task, info, timeout):
        """ACPI shutdown, wait until off, power on."""
        wait = timeout if timeout else CONF.conductor.soft_power_off_timeout
        if self._status(task, info) == PowerState.ON:
            run(task, info, ["power", "soft"], "soft reboot (soft power off)")
            self._wait_off(task, info, wait,
                           "soft reboot: the machine behind BMC %s was still on %.0fs "
                           "after the soft power off (its OS ignored ACPI shutdown?); use "
                           "reboot for a hard power cycle")
            retry.confirm_lease(task)  # as the reboot's: the on only while still ours
        self._force_boot_device(task, info)
        run(task, info, ["power", "on"], "soft reboot (power on)")


_BOOT_DATA = re.compile(r"Boot parameter data:\s*([0-9a-fA-F]+)")


#: Boot flags byte 2 of the UEFI hard disk on Supermicro BMCs: selector 1001b,
#: "primary remote media" in the IPMI spec (Supermicro FAQ 25559). In UEFI
#: mode they do not boot the disk from the standard 0x08. Ironic sends it
#: when ``properties/vendor`` is supermicro (which its power sync records).
_SUPERMICRO_UEFI_DISK = 0x24


def _supermicro_uefi(task, info):
    """The node is a Supermicro (``properties/vendor``, any case) booting UEFI."""
    vendor = str((getattr(task.node, "properties", None) or {}).get("vendor") or "")
    return vendor.strip().lower() == "supermicro" and info["boot_mode"] == "uefi"


def selector_devices(task, info):
    """Selector (boot flags byte 2, bits 5..2) -> boot device, for this node's BMC."""
    if _supermicro_uefi(task, info):
        return {**_SELECTOR_DEVICES, _SUPERMICRO_UEFI_DISK >> 2: boot_devices.DISK}
    return _SELECTOR_DEVICES


def parse_boot_flags(out, devices=_SELECTOR_DEVICES):
    """``{"boot_device", "persistent"}`` from ``chassis bootparam get 5`` output.

    Reads the raw parameter bytes, not ipmitool's prose, which differs
    between versions. A clear "valid" bit means the BMC has no override:
    device and persistence are unknown (None).
    """
    match = _BOOT_DATA.search(out)
    if match is None or len(match.group(1)) < 4:
        raise ValueError("no boot parameter data in the answer")
    data = bytes.fromhex(match.group(1)[:10].ljust(10, "0"))
    if not data[0] & 0x80:
        return {"boot_device": None, "persistent": None}
    device = devices.get((data[1] >> 2) & 0x0F)
    return {"boot_device": device, "persistent": bool(data[0] & 0x40)}


_BOOTDEV_FAILED = re.compile(r"^Set Chassis Boot Parameter \d+ failed.*$",
                             re.IGNORECASE | re.MULTILINE)


def set_boot_device(task, info, device, persistent):
    """``chassis bootdev``, after disabling the BMC's 60 s flag timeout if asked."""
    if info["ipmi_disable_boot_timeout"]:
        # Set System Boot Options, parameter 3 (boot flag valid bit
        # clearing), bit 3: keep the flags past 60 s without a power action.
        try:
            run(task, info, ["raw", "0x00", "0x08", "0x03", "0x08"],
                "disabling the boot flag timeout")
        except (exception.DriverActionError,  # refused: not worth failing for
                exception.DriverUnsupportedAction) as exc:
            task.logger.warning("%s; the BMC may drop the boot device if no power "
                                "action follows within 60 s (set "
                                "ipmi_disable_boot_timeout=false to skip this)", exc)
    action = "setting boot device %s%s" % (device, " (persistent)" if persistent else "")
    _, err = run(task, info, _bootdev_args(task, info, device, persistent), action)
    # ipmitool exits 0 even when the BMC refused the boot flags.
    if _BOOTDEV_FAILED.search(err):
        raise failure(info, action, err, 0)


def _bootdev_args(task, info, device, persistent):
    """``chassis bootdev``, or for a Supermicro's UEFI disk the raw flags it needs.

    ipmitool's bootdev has no name for selector 0x24, so those flags (valid,
    UEFI, persistent or not) go as boot option parameter 5 in a raw command,
    byte for byte what Ironic sends.
    """
    if device == boot_devices.DISK and _supermicro_uefi(task, info):
        flags = 0xE0 if persistent else 0xA0
        return ["raw", "0x00", "0x08", "0x05", "0x%02x" % flags,
                "0x%02x" % _SUPERMICRO_UEFI_DISK, "0x00", "0x00", "0x00"]
    options = (["persistent"] if persistent else []) + (
        ["efiboot"] if info["boot_mode"] == "uefi" else [])
    args = ["chassis", "bootdev", BOOT_DEVICES[device]]
    return args + (["options=%s" % ",".join(options)] if options else [])


#: driver_internal_info keys of ipmi_force_boot_device (Ironic's, so nodes
#: moved from Ironic keep theirs): the persistent boot device to send again
#: before every boot, and False when the next boot is a one-time device's.
PERSISTENT_BOOT_DEVICE = "persistent_boot_device"
NEXT_BOOT_PERSISTENT = "is_next_boot_persistent"


def _keep_for_force(task, info, device, persistent):
    """Under ipmi_force_boot_device, keep what the power interface sends again.

    Kept here, not by the conductor: the deploy sets the disk and the PXE
    boot of cleaning through this interface too, and a device recorded
    only by an operator's request would be sent over theirs.
    """
    if not info["ipmi_force_boot_device"]:
        return
    if persistent:
        base.update_internal_info(task, **{PERSISTENT_BOOT_DEVICE: device,
                                           NEXT_BOOT_PERSISTENT: None})
    else:
        base.update_internal_info(task, **{NEXT_BOOT_PERSISTENT: False})


class IPMIManagement(_IPMIBase, base.ManagementInterface):
    """Boot device, sensors and NMI through ipmitool ``chassis`` and ``sdr``."""

    def get_supported_boot_devices(self, task):
        return list(BOOT_DEVICES)

    def set_boot_device(self, task, device, persistent=False):
        if device not in BOOT_DEVICES:
            raise exception.InvalidBootDevice(
                "Node %s: ipmitool cannot set boot device %r; use one of: %s"
                % (task.node.uuid, device, ", ".join(BOOT_DEVICES)))
        info = parse(task)
        set_boot_device(task, info, device, persistent)
        _keep_for_force(task, info, device, persistent)

    def get_boot_device(self, task):
        """What the BMC's boot flags say; under ipmi_force_boot_device, the kept device.

        A BMC that forgets its flags reads "no override" while the kept
        persistent device is sent again before the next boot anyway (unless
        a one-time device was set since): that device is what the machine
        boots, and what Ironic reports.
        """
        info = parse(task)
        internal = task.node.driver_internal_info or {}
        if (info["ipmi_force_boot_device"]
                and internal.get(PERSISTENT_BOOT_DEVICE) in BOOT_DEVICES
                and internal.get(NEXT_BOOT_PERSISTENT, True)):
            return {"boot_device": internal[PERSISTENT_BOOT_DEVICE], "persistent": True}
        out, _ = run(task, info, ["chassis", "bootparam", "get", "5"],
                     "reading the boot device")
        try:
            return parse_boot_flags(out, selector_devices(task, info))
        except ValueError as exc:
            raise exception.DriverActionError(
                "reading the boot device from BMC %s: %s (got %r)"
                % (bmc_of(info), exc, _mask(out.strip(), info)[:200])) from None

    def get_sensors_data(self, task):
        """``{type: {sensor id: {field: value}}}`` from ``sdr list all`` (verbose)."""
        info = parse(task)
        out, err = run(task, info, ["sdr", "list", "all"], "reading sensors")
        sensors = parse_sdr(out)
        if not sensors and _EMPTY_SDR in err:
            # The BMC has no sensor records (completion code 0xCB for the first
            # one): no sensors, as Ironic reports them, not an error retried
            # until the operation's deadline.
            return {}
        if not sensors and out.strip():
            raise exception.DriverActionError(
                "reading sensors from BMC %s: no sensor found in ipmitool's answer %r"
                % (bmc_of(info), _mask(out.strip(), info)[:200]))
        return sensors

    def inject_nmi(self, task):
        run(task, parse(task), ["chassis", "power", "diag"], "injecting an NMI")


#: ipmitool's words for completion code 0xCB, reading the first SDR of an
#: empty repository ("Get SDR 0000 command failed: ...").
_EMPTY_SDR = "Requested sensor, data, or record not found"


def parse_sdr(out):
    """Group ipmitool's verbose SDR blocks by sensor type, as Ironic does.

    Each block is ``Key : value`` lines starting with ``Sensor ID``; the
    type comes from ``Sensor Type (Threshold)`` or ``(Discrete)``, without
    its hex code. Blocks without a type (OEM records, FRU locators) are
    skipped.
    """
    result = {}
    for block in re.split(r"\n\s*\n", out.strip()):
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        sensor_id = fields.get("Sensor ID")
        sensor_type = fields.get("Sensor Type (Threshold)") or fields.get(
            "Sensor Type (Discrete)") or fields.get("Sensor Type (Analog)")
        if not sensor_id or not sensor_type:
            continue
        sensor_type = re.sub(r"\s*\(0x[0-9a-fA-F]+\)$", "", sensor_type)
        result.setdefault(sensor_type, {})[sensor_id] = fields
    return result
