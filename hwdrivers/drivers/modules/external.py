"""external: power and boot order through an executable speaking JSON.

A driver author who cannot (or would rather not) write Python ships an
executable in any language that speaks the MAAS power-driver protocol
(see ``doc/drivers/external.md``)::

    <exe> schema                      -> the driver's parameter schema (JSON)
    <exe> power_on|power_off|power_query|set_boot_order|probe
        stdin:  {"driverParameters": {...}}
        stdout: {"action_type": ..., "error": null | {"code", "message"}, "data": ...}

The node names the executable in driver_info ``external_driver``; the
executable's schema is the rest of the node's driver_info declaration, so
its fields are validated and its secret fields masked exactly like the
fields an in-tree driver declares. Schemas are read once per executable
and cached until the file changes.

Safety: only executables in ``[external] driver_paths`` run (whoever sets
driver_info would otherwise choose what the conductor executes); the
parameters, secrets included, reach the executable only on stdin — never
in argv, which every user of the host can read, nor in the environment.
Each run goes through :mod:`hwdrivers.common.supervised`: the call ends
when the executable exits (a background child holding stdout open cannot
turn an answer into a timeout), and everything it started, even in a new
session, is killed when the call ends, times out or prints too much.
"""

import json
import os
import re
import signal
import threading
import time


from hwdrivers.common import boot_devices
from hwdrivers.common import environment
from hwdrivers.common import exception
from hwdrivers.common import log_text
from hwdrivers.common import supervised
from hwdrivers.common.states import PowerState
from hwdrivers.conf import CONF
from hwdrivers.drivers import base
from hwdrivers.drivers import params


FIELD = "external_driver"
BASE_SCHEMA = params.Schema(params.Param(
    FIELD, "Driver executable speaking the JSON protocol: a name looked up in "
    "[external] driver_paths, or an absolute path inside one of them", required=True))

ACTIONS = ("power_on", "power_off", "power_query", "set_boot_order", "probe")

#: MAAS setting field types -> our parameter types.
FIELD_TYPES = {
    "string": "str", "password": "str", "mac_address": "str", "virsh_address": "str",
    "lxd_address": "str", "multiple_choice": "str", "ip_address": "address",
    "choice": "choice", "int": "int", "integer": "int", "float": "float",
    "port": "port", "bool": "bool", "boolean": "bool", "checkbox": "bool",
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_STDERR_SHOWN = 300
#: Most of an executable's own error message, and of a value it answered, that
#: an error shows: they become the node's last_error, its history and a log
#: line on every retry, and an answer may be up to MAX_OUTPUT bytes.
_MESSAGE_SHOWN = 1000
_VALUE_SHOWN = 100


# -- finding the executable -----------------------------------------------------

def _dirs():
    return [os.path.normpath(d) for d in CONF.external.driver_paths if d and d.strip()]


def _inside(path, directory):
    return directory == "/" or path == directory or path.startswith(directory + os.sep)


def resolve(name):
    """The absolute path to run for driver_info ``external_driver`` = ``name``.

    Raises DriverSettingsError when the name is unusable or outside
    ``[external] driver_paths``, DriverToolMissing when the file is absent
    or not executable.
    """
    dirs = _dirs()
    if not isinstance(name, str) or not name.strip():
        raise exception.DriverSettingsError(
            "driver_info %s must name a driver executable (a name in [external] "
            "driver_paths, or an absolute path)" % FIELD)
    name = name.strip()
    if "/" in name:
        if not os.path.isabs(name):
            raise exception.DriverSettingsError(
                "driver_info %s=%s: a path must be absolute, or give a bare name to look "
                "up in [external] driver_paths (%s)" % (FIELD, name, ", ".join(dirs)))
        path = os.path.normpath(name)
        if not any(_inside(path, d) for d in dirs):
            raise exception.DriverSettingsError(
                "driver_info %s=%s is outside [external] driver_paths (%s): install the "
                "executable there, or have an administrator add its directory"
                % (FIELD, name, ", ".join(dirs) or "empty"))
        candidates = [path]
    else:
        if name in (".", ".."):
            raise exception.DriverSettingsError(
                "driver_info %s=%s is not a file name" % (FIELD, name))
        candidates = [os.path.join(d, name) for d in dirs]
    for path in candidates:
        if os.path.isfile(path):
            if not os.access(path, os.X_OK):
                raise exception.DriverToolMissing(
                    "external driver %s is not executable: chmod +x %s" % (path, path))
            return path
    raise exception.DriverToolMissing(
        "external driver %s not found (looked in: %s); install it in [external] "
        "driver_paths or fix driver_info %s" % (name, ", ".join(candidates) or
                                               "no directory", FIELD))


# -- running it -------------------------------------------------------------------

#: Most a driver may print on stdout or stderr. A schema or an answer is a
#: few KiB; a driver printing without end must not fill the conductor's memory.
MAX_OUTPUT = supervised.MAX_OUTPUT


def run(path, action, payload=None, timeout=None):
    """Run ``path action`` with ``payload`` as JSON on stdin: (stdout, stderr, status).

    The run ends when the executable exits, and whatever it started is
    killed then (see :mod:`hwdrivers.common.supervised`); it is bounded by
    ``timeout`` (default ``[external] timeout``). The environment is
    :func:`environment.minimal`: nothing of the conductor's own.
    """
    timeout = CONF.external.timeout if timeout is None else timeout
    data = json.dumps(payload).encode() if payload is not None else b""
    try:
        done = supervised.run([path, action], data, timeout=timeout,
                              env=environment.minimal(), max_output=MAX_OUTPUT)
    except supervised.StartFailed as exc:
        raise exception.DriverToolMissing(
            "external driver %s cannot be started: %s (check its #! line and that it "
            "is executable)" % (path, exc.reason)) from None
    except supervised.OutputLimit:
        raise exception.DriverActionError(
            "external driver %s printed more than %d bytes for %s; it and everything "
            "it started were killed (a driver answers with one small JSON object)"
            % (path, MAX_OUTPUT, action)) from None
    except supervised.Timeout:
        raise exception.DriverConnectionError(
            "external driver %s did not answer %s within %.1fs; it and everything it "
            "started were killed (raise [external] timeout if the hardware is slow)"
            % (path, action, timeout)) from None
    return done.stdout, done.stderr, done.returncode


def _shown_forms(secrets):
    """Each secret as text from the executable may show it.

    The parameters reach it as JSON (``ensure_ascii``), so a driver that
    dumps its stdin to stderr (``set -x``, a traceback) shows ``ä`` as
    ``\\u00e4`` and ``"`` as ``\\"``: those spellings are masked too, and
    ``repr``'s, for values we quote with ``%r``.
    """
    forms = []
    for secret in secrets:
        if not secret:
            continue
        for form in (secret, json.dumps(secret)[1:-1],
                     json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1]):
            if form not in forms:
                forms.append(form)
    return sorted(forms, key=len, reverse=True)  # a longer spelling before its part


def _shown(text, secrets, limit):
    """``text`` from the executable, its secrets masked, on one line, then cut
    to ``limit``.

    Masked before the cut, so a cut through a secret cannot show its start.
    Line breaks and control characters are escaped (``\n``): the text may
    echo a node's value, which an API user chose, and the error is logged on
    every retry, where a raw line break would start a forged log line.
    """
    return log_text.cut(log_text.printable(params.redact(text, _shown_forms(secrets))),
                        limit)


def _garbage(path, action, why, stderr, returncode, secrets):
    tail = log_text.printable(params.redact(stderr.decode("utf-8", "replace").strip(),
                                            _shown_forms(secrets)))[-_STDERR_SHOWN:]
    return exception.DriverActionError(
        "external driver %s gave no valid answer to %s (%s): %s%s"
        % (path, action, _ended(returncode), why, "; stderr: %s" % tail if tail else ""))


def _ended(returncode):
    """``exit status 3``, or the signal that killed it: ``killed by SIGKILL``.

    The supervisor reports a driver killed by a signal as minus its number;
    "exit status -9" read as a status the driver chose, where the kernel's
    OOM killer or a crash (SIGSEGV) ended it before it could answer.
    """
    if returncode >= 0:
        return "exit status %d" % returncode
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "signal %d" % -returncode
    return "killed by %s" % name


def _not_json(stdout, exc, secrets):
    """Why ``stdout`` is no answer, quoting how it begins (masked, then cut).

    The author sees what the conductor read: a log line printed before the
    answer, a byte-order mark or a shell's own message, rather than only
    that something was wrong with stdout.
    """
    if not stdout.strip():
        return "stdout is not JSON: it is empty (print one JSON object)"
    if isinstance(exc, RecursionError):
        return "stdout is not JSON: nested too deep"
    if isinstance(exc, UnicodeDecodeError):
        return "stdout is not JSON: not UTF-8 (byte %d)" % exc.start
    text = log_text.printable(params.redact(stdout.decode("utf-8"), _shown_forms(secrets)))
    return ("stdout is not JSON (%s); it begins \"%s\": print only the answer on "
            "stdout, logs and progress on stderr" % (exc, log_text.cut(text, _VALUE_SHOWN)))


def call(path, action, driver_parameters, extra=None, secrets=(), timeout=None):
    """One protocol action: the answer's ``data``, or the mapped DriverError."""
    payload = dict(extra or {}, driverParameters=driver_parameters)
    stdout, stderr, returncode = run(path, action, payload, timeout=timeout)
    try:
        answer = json.loads(stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # nested past the limit
        raise _garbage(path, action, _not_json(stdout, exc, secrets), stderr, returncode,
                       secrets) from None
    if not isinstance(answer, dict):
        raise _garbage(path, action, "stdout is not a JSON object", stderr, returncode,
                       secrets)
    if answer.get("action_type") not in (None, action):
        raise _garbage(path, action, "action_type is %s" % _shown(
            repr(answer.get("action_type")), secrets, _VALUE_SHOWN),
            stderr, returncode, secrets)
    error = answer.get("error")
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise _garbage(path, action, "error must be null or {\"code\", \"message\"}",
                           stderr, returncode, secrets)
        code = error["code"]
        cls = exception.TAXONOMY.get(code)
        message = _shown(error.get("message") or "no message", secrets, _MESSAGE_SHOWN)
        if cls is None:
            raise exception.DriverError(
                "external driver %s failed %s with unknown error code %s: %s"
                % (path, action, _shown(repr(code), secrets, _VALUE_SHOWN), message))
        raise cls("external driver %s failed %s (%s): %s" % (path, action, code, message))
    if returncode != 0:
        raise _garbage(path, action, "it exited with an error but reported none",
                       stderr, returncode, secrets)
    data = answer.get("data")
    if data is not None and not isinstance(data, dict):
        raise _garbage(path, action, "data must be a JSON object", stderr, returncode,
                       secrets)
    return data or {}


# -- schemas ----------------------------------------------------------------------

def _flag(doc, key, where):
    """``doc[key]`` as a JSON boolean (absent or null: false); ValueError otherwise.

    Read with ``bool()``, a schema written by hand in a shell script
    (``"required": "false"``) made the field required, and ``"can_probe":
    "no"`` declared probing: every non-empty string is true. A flag that is
    not ``true`` or ``false`` is refused instead, naming the flag.
    """
    value = doc.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError("%s: %s must be true or false (a JSON boolean), not %s"
                         % (where, key, _shown(json.dumps(value), (), _VALUE_SHOWN)))
    return value


class DriverSchema:
    """What ``<exe> schema`` declares, as our declaration types."""

    def __init__(self, path, doc):
        self.path = path
        if isinstance(doc, str):  # a schema printed as a JSON string of JSON
            doc = json.loads(doc)
        if not isinstance(doc, dict):
            raise ValueError("the schema must be a JSON object")
        self.name = str(doc.get("name") or os.path.basename(path))
        self.description = str(doc.get("description") or "")
        self.can_probe = _flag(doc, "can_probe", "the schema")
        self.can_set_boot_order = _flag(doc, "can_set_boot_order", "the schema")
        fields = doc.get("fields", [])
        if not isinstance(fields, list):
            raise ValueError("fields must be a list")
        declared = [self._param(f) for f in fields]
        names = [p.name for p in declared]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError("fields declared twice: %s" % ", ".join(twice))
        self.schema = params.Schema(*declared)
        self.address_field, self.address_pattern = self._address(doc)

    @staticmethod
    def _param(field):
        if not isinstance(field, dict):
            raise ValueError("each field must be an object with a name")
        name = field.get("name")
        if not isinstance(name, str) or not _NAME.match(name) or name == FIELD:
            raise ValueError("field name %s is not allowed (up to 64 letters, digits, "
                             "_.-; not %s)" % (_shown(repr(name), (), _VALUE_SHOWN), FIELD))
        # Every value is checked for its JSON type here: a list where a string
        # belongs would otherwise raise TypeError later, in every listing that
        # masks this node, rather than once, as this executable's error.
        declared = field.get("type") or field.get("field_type") or "string"
        field_type = declared if field.get("type") else FIELD_TYPES.get(
            declared if isinstance(declared, str) else None)
        if not isinstance(declared, str) or field_type not in params.TYPES:
            raise ValueError("field %s has unknown type %s (known: %s)" % (
                name, _shown(repr(declared), (), _VALUE_SHOWN),
                ", ".join(sorted(set(FIELD_TYPES) | set(params.TYPES)))))
        for bound in ("min", "max"):
            value = field.get(bound)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))):
                raise ValueError("field %s: %s must be a number, not %r"
                                 % (name, bound, value))
        choices = field.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise ValueError("field %s: choices must be a list of values or of "
                             "[value, label] pairs" % name)
        if choices:
            choices = [c[0] if isinstance(c, list) and c else c for c in choices]
            if not all(isinstance(c, (str, int, float)) for c in choices):
                raise ValueError("field %s: choices must be a list of values or of "
                                 "[value, label] pairs" % name)
        required = _flag(field, "required", "field %s" % name)
        default = field.get("default")
        if required or default in ("", []):
            default = None
        secret = _flag(field, "secret", "field %s" % name) or field.get("field_type") == "password"
        try:
            param = params.Param(
                name, str(field.get("label") or field.get("description") or name),
                required=required, secret=secret, type=field_type, choices=choices,
                min=field.get("min"), max=field.get("max"))
            if default is not None:
                param.default = param.parse(default)
        except ValueError as exc:
            raise ValueError("field %s: %s" % (name, exc)) from None
        return param

    def _address(self, doc):
        extractor = doc.get("ip_extractor") or {}
        name = extractor.get("field_name") if isinstance(extractor, dict) else None
        if name is not None and not isinstance(name, str):
            raise ValueError("ip_extractor field_name must be a field's name, not %r"
                             % (name,))
        if name in self.schema:
            pattern = extractor.get("pattern")
            if pattern is not None and not isinstance(pattern, str):
                raise ValueError("ip_extractor pattern must be a regular expression "
                                 "string, not %r" % (pattern,))
            return name, pattern
        for param in self.schema:
            if param.type == "address":
                return param.name, None
        return None, None

    def target(self, driver_info):
        """The controller this node's driver talks to, from the address field."""
        if not self.address_field:
            return None
        value = (driver_info or {}).get(self.address_field)
        if value in (None, ""):
            return None
        value = str(value)
        if self.address_pattern:
            try:
                match = re.match(self.address_pattern, value)
            except re.error:
                match = None
            if match and "address" in match.groupdict():
                value = match.group("address")
        # One controller, one target: " 10.0.0.1", "[fe80::1]" and "fe80:0::1"
        # are the addresses 10.0.0.1 and fe80::1.
        try:
            return params.parse_address(value)
        except ValueError:
            return value.strip() or None


_cache = {}
#: Schema reads that failed: key -> ((error class, its text), monotonic time
#: until which the read is not tried again, when it failed).
_failed = {}
_cache_lock = threading.Lock()
#: path -> the lock its one schema read at a time holds.
_reading = {}


def load_schema(path):
    """The :class:`DriverSchema` of ``path``, read once per version of the file.

    The cache key includes the file's inode, size and modification time, so
    an upgraded driver is read again without restarting the conductor. A
    read that failed -- timed out, exited non-zero, printed no usable
    schema -- is not tried again for ``[external] timeout`` seconds (the
    same error is raised at once, saying when it was seen): a node listing
    masks every node's driver_info with the schema, and computing a
    controller key, validating and acting each ask it too, so a hung or
    broken executable would otherwise run, or be waited for, once per node
    and per step. One read of a path runs at a time, and who waited for it
    takes its result: callers that found the cache cold together (the
    power sync's threads after an upgrade) each ran the executable.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise exception.DriverToolMissing(
            "external driver %s cannot be read: %s" % (path, exc.strerror)) from None
    key = (path, st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _known(key)
    if cached is not None:
        return cached
    with _cache_lock:
        reading = _reading.setdefault(path, threading.Lock())
    with reading:
        cached = _known(key)  # read, or failed, while this one waited
        if cached is not None:
            return cached
        now = time.monotonic()
        try:
            schema = _read_schema(path)
        except exception.DriverError as exc:
            with _cache_lock:
                for old in [k for k in _failed if k[0] == path]:
                    del _failed[old]
                # What it said, not the exception: callers add their node to that.
                _failed[key] = ((type(exc), exc.detail),
                                time.monotonic() + CONF.external.timeout, now)
            raise
        with _cache_lock:
            for old in [k for k in _cache if k[0] == path]:
                del _cache[old]
            _failed.pop(key, None)
            _cache[key] = schema
        return schema


def _known(key):
    """The cached schema of ``key``, or None; raises the failure of a recent read."""
    with _cache_lock:
        cached = _cache.get(key)
        failed = _failed.get(key)
    if cached is not None:
        return cached
    now = time.monotonic()
    if failed is not None and now < failed[1]:
        (error_class, detail), until, when = failed
        raise error_class("%s (%.1fs ago; not run again for %.1fs)"
                          % (detail, now - when, until - now))
    return None


def _check_schema_answer(path, doc, stderr, returncode):
    """Refuse a schema read that failed, though it printed JSON.

    An executable that answers ``schema`` with a protocol error (it cannot
    read its own configuration, or does not implement ``schema``) prints
    an object with no ``fields``, and so did one that exited non-zero: both
    were taken for a schema declaring no field. Every other field of its
    nodes was then undeclared, passwords included, and shown unmasked in
    every listing for as long as the file was unchanged -- where a schema
    that cannot be read masks them all.
    """
    error = doc.get("error") if isinstance(doc, dict) else None
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        cls = exception.TAXONOMY.get(code) if isinstance(code, str) else None
        detail = ("external driver %s answered schema with error %s: %s (schema must print "
                  "the driver's schema, never an error)"
                  % (path, _shown(repr(code), (), _VALUE_SHOWN),
                     _shown(message or "no message", (), _MESSAGE_SHOWN)))
        raise (cls or exception.DriverActionError)(detail)
    if returncode != 0:
        raise _garbage(path, "schema", "it exited with an error after printing a schema "
                       "(exit 0 once the schema is printed)", stderr, returncode, ())


def _read_schema(path):
    stdout, stderr, returncode = run(path, "schema")
    try:
        doc = json.loads(stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _garbage(path, "schema", "not a usable schema: %s" % _not_json(stdout, exc, ()),
                       stderr, returncode, ()) from None
    _check_schema_answer(path, doc, stderr, returncode)
    try:
        return DriverSchema(path, doc)
    except RecursionError:
        raise _garbage(path, "schema", "not a usable schema (JSON nested too deep)",
                       stderr, returncode, ()) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _garbage(path, "schema", "not a usable schema (%s)"
                       % _shown(str(exc), (), _MESSAGE_SHOWN), stderr, returncode, ()) from None


def clear_cache():
    with _cache_lock:
        _cache.clear()
        _failed.clear()


# -- the interfaces ---------------------------------------------------------------

def _secret_values(driver, values):
    """The values of the node's secret fields, as the executable receives them."""
    return [str(values[p.name]) for p in driver.schema
            if p.secret and values.get(p.name) not in (None, "")]


class _ExternalBase:
    """What power and management share: the executable, its schema, its controller."""

    driver_info_schema = BASE_SCHEMA
    driver_info_schema_depends_on = frozenset((FIELD,))
    config_group = "external"

    def _driver(self, driver_info):
        """(path, DriverSchema) for the node's executable; raises DriverError."""
        return load_schema(resolve((driver_info or {}).get(FIELD)))

    def driver_info_schema_for(self, driver_info):
        """``external_driver`` plus the executable's fields.

        When the executable cannot be read yet, every other field the node
        has is treated as secret: masking too much is recoverable, showing a
        password is not.
        """
        if not (driver_info or {}).get(FIELD):
            return BASE_SCHEMA
        try:
            return BASE_SCHEMA + self._driver(driver_info).schema
        except Exception:  # noqa: BLE001 (must never raise: every listing masks through it)
            return BASE_SCHEMA + params.Schema(*(
                params.Param(k, "Field of an external driver whose schema could not be "
                             "read", secret=True)
                for k in driver_info if k != FIELD))

    def parse_driver_info(self, task):
        """(DriverSchema, typed parameters for the executable); lists every problem."""
        raw = task.node.driver_info or {}
        BASE_SCHEMA.parse(raw, node=task.node.uuid, check_unknown=False)
        try:
            driver = self._driver(raw)
        except exception.DriverError as exc:
            raise exc.locate(node=task.node.name or task.node.uuid)
        values = (BASE_SCHEMA + driver.schema).parse(raw, node=task.node.uuid,
                                                     check_unknown=False)
        values.pop(FIELD)
        values = {k: v for k, v in values.items() if v is not None}
        return driver, values

    def controller_key(self, task):
        """``external:<external_driver>:<target>``.

        The target is the schema's address field (MAAS's ``ip_extractor``
        field, else the first field of type address/ip_address), so nodes
        behind one chassis or BMC share a queue; a driver that declares no
        address gets one queue per node.
        """
        info = task.node.driver_info or {}
        name = info.get(FIELD)
        target = None
        try:
            path = resolve(name)
            target = load_schema(path).target(info)
            # One executable, one name: a bare name, its absolute path, a path
            # through ".." or with a stray space run the same file, and two
            # queues for one controller would let it see more sessions than
            # [external] max_concurrency.
            name = path
            bare = os.path.basename(path)
            if resolve(bare) == path:
                name = bare
        except exception.DriverError:
            pass
        return "external:%s:%s" % (name, target or "node-%s" % task.node.uuid)

    def _call(self, task, action, extra=None, deadline=None):
        """One run of the node's executable, bounded by ``[external] timeout``.

        With a ``deadline`` (``time.monotonic()`` seconds, shared by the
        steps of one reboot) the run also ends by then.
        """
        driver, values = self.parse_driver_info(task)
        secrets = _secret_values(driver, values)
        timeout = CONF.external.timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise exception.DriverConnectionError(
                    "external driver %s: no time left for %s" % (driver.path, action))
        task.logger.debug("external driver %s: %s", driver.path, action)
        return call(driver.path, action, values, extra=extra, secrets=secrets,
                    timeout=timeout)


class ExternalPower(_ExternalBase, base.PowerInterface):
    """Power through the node's driver executable."""

    power_states = (PowerState.ON, PowerState.OFF, PowerState.REBOOT)

    def get_power_state(self, task, deadline=None):
        data = self._call(task, "power_query", deadline=deadline)
        status = str(data.get("status", "")).lower()
        if status in ("on", "off"):
            return PowerState.ON if status == "on" else PowerState.OFF
        if status in ("error", "unknown"):
            return PowerState.ERROR
        driver, values = self.parse_driver_info(task)
        raise exception.DriverActionError(
            "external driver %s answered power_query with status %s; expected on or off"
            % (driver.path, _shown(repr(data.get("status")),
                                   _secret_values(driver, values), _VALUE_SHOWN)))

    def set_power_state(self, task, power_state, timeout=None):
        power_state = PowerState.parse(power_state)
        if power_state == PowerState.REBOOT:
            return self.reboot(task, timeout)
        if power_state not in (PowerState.ON, PowerState.OFF):
            raise exception.InvalidPowerState(
                "Node %s: the external protocol can power on, off or reboot, not %s"
                % (task.node.uuid, power_state))
        self._call(task, "power_on" if power_state == PowerState.ON else "power_off")

    def reboot(self, task, timeout=None):
        """power_off, wait until power_query says off, power_on.

        The three steps share one deadline, ``timeout`` (default ``[external]
        timeout``): a reboot is one command, bounded like one.
        """
        limit = timeout or CONF.external.timeout
        deadline = time.monotonic() + limit
        self._call(task, "power_off", deadline=deadline)
        pause = 0.05
        while True:
            started = time.monotonic()
            state = self.get_power_state(task, deadline=deadline)
            if state == PowerState.OFF:
                break
            # No poll that could not finish in time (as long as the last one
            # took): it would end in "no answer", not in what was answered.
            now = time.monotonic()
            if now + pause + (now - started) >= deadline:
                # Say what it answered: "error"/"unknown" is not "still on".
                raise exception.DriverActionError(
                    "external driver %s: power_query still answered %s, not off, %.1fs "
                    "after power_off during reboot (the reboot's time limit)"
                    % (task.node.driver_info.get(FIELD),
                       "on" if state == PowerState.ON else "error or unknown", limit))
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        self._call(task, "power_on", deadline=deadline)

    def probe(self, task):
        """The systems behind the node's controller (``data.hosts``)."""
        driver, _ = self.parse_driver_info(task)
        if not driver.can_probe:
            raise exception.DriverUnsupportedAction(
                "external driver %s does not declare can_probe" % driver.path)
        hosts = self._call(task, "probe").get("hosts", [])
        if not isinstance(hosts, list):
            raise exception.DriverActionError(
                "external driver %s answered probe with hosts that are not a list"
                % driver.path)
        return hosts


#: Boot devices the protocol can express, and the boot order each means.
_ORDER = {
    boot_devices.PXE: ("NetworkInterface", "StorageDevice"),
    boot_devices.DISK: ("StorageDevice", "NetworkInterface"),
}


class ExternalManagement(_ExternalBase, base.ManagementInterface):
    """Boot device through the protocol's ``set_boot_order``.

    The protocol orders devices (network interfaces, disks); ``pxe`` puts the
    network first, ``disk`` the disk. The MAC and serial come from node
    properties ``boot_mac`` and ``root_device.serial`` when known (null
    otherwise). The protocol cannot read the order back.
    """

    def validate(self, task):
        driver, _ = self.parse_driver_info(task)
        if not driver.can_set_boot_order:
            raise self.unsupported(task, "set_boot_order (the executable does not "
                                         "declare can_set_boot_order; use noop)")

    def get_supported_boot_devices(self, task):
        try:
            driver, _ = self.parse_driver_info(task)
        except (exception.DriverError, exception.InvalidParameterValue):
            return []
        return list(_ORDER) if driver.can_set_boot_order else []

    def set_boot_device(self, task, device, persistent=False):
        if device not in _ORDER:
            raise exception.InvalidBootDevice(
                "Node %s: the external protocol can set boot device pxe or disk, not %r"
                % (task.node.uuid, device))
        self.validate(task)
        props = task.node.properties or {}
        root = props.get("root_device") if isinstance(props.get("root_device"), dict) else {}
        devices = [{"deviceType": kind,
                    "properties": ({"mac": props.get("boot_mac")}
                                   if kind == "NetworkInterface"
                                   else {"serial": root.get("serial")})}
                   for kind in _ORDER[device]]
        self._call(task, "set_boot_order",
                   extra={"devices": devices, "bootDevice": device,
                          "persistent": bool(persistent)})

    def get_boot_device(self, task):
        return {"boot_device": None, "persistent": None}
