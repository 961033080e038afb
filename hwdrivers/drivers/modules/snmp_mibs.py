"""Vendor outlet tables for the snmp driver: which OID to write, which to read.

Every PDU switches an outlet by writing an INTEGER to an object indexed by
the outlet number, and reports the outlet's state in another (or the same)
object. An :class:`OutletMib` holds those OIDs and values, so a new vendor is
a few lines here and ``generic`` builds one from the node's driver_info.

The names and values are Ironic's ``snmp_driver`` tables, so nodes move
over unchanged (Ironic's ``auto`` excepted), with three deliberate
differences (see doc/drivers/snmp.md): ``apc_rackpdu`` reads the state from
rPDUOutletStatusOutletState instead of the command object, ``eatonpower``
follows EATON-EPDU-MIB (on and off commands the right way round, the unit
index 0 before the outlet), and ``servertech_sentry4`` reads pendOn as off
and pendOff as on, the state the outlet is still in.
"""

import dataclasses

from hwdrivers.common.states import PowerState
from hwdrivers.drivers import params

#: Largest OID sub-identifier and most sub-identifiers in an SNMP OID (RFC 2578).
MAX_SUBID = 2 ** 32 - 1
MAX_OID_LENGTH = 128


def normalize_oid(text):
    """``".1.3.6.1"`` -> ``"1.3.6.1"``; raise ValueError unless a valid OID.

    Valid as SNMP encodes it (X.690, RFC 2578): the first arc 0-2, the second
    at most 39 under 0 and 1, sub-identifiers up to 2^32-1, at most 128 of
    them with the outlet index. Anything else reached the PDU as a bare
    "SNMP message serialization error" that named no field.
    """
    oid = str(text).strip().lstrip(".")
    parts = oid.split(".")
    if len(parts) < 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError("must be a numeric OID such as 1.3.6.1.4.1.318.1.1.4.4.2.1.3")
    arcs = [int(p) for p in parts]
    if arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39):
        raise ValueError("must start with 0, 1 or 2, then at most 39 under 0 and 1 "
                         "(e.g. 1.3.6.1...)")
    if max(arcs) > MAX_SUBID or len(arcs) > MAX_OID_LENGTH - 2:
        raise ValueError("must have at most %d parts, each at most %d"
                         % (MAX_OID_LENGTH - 2, MAX_SUBID))
    return ".".join(map(str, arcs))


@dataclasses.dataclass(frozen=True)
class OutletMib:
    """How one kind of PDU switches and reports an outlet.

    OIDs are prefixes: ``index`` (``"{outlet}"`` unless the table has more
    index parts) is appended to each. ``off_oid`` and ``status_oid`` default
    to ``on_oid``; ``status_on``/``status_off`` (the values that read back
    as on/off) default to the values written.
    """

    description: str
    on_oid: str
    on_value: int
    off_value: int
    off_oid: str = None
    status_oid: str = None
    status_on: tuple = None
    status_off: tuple = None
    index: str = "{outlet}"

    def __post_init__(self):
        defaults = {"off_oid": self.on_oid, "status_oid": self.on_oid,
                    "status_on": (self.on_value,), "status_off": (self.off_value,)}
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    def _oid(self, prefix, outlet):
        return "%s.%s" % (prefix, self.index.format(outlet=int(outlet)))

    def control(self, outlet, power_state):
        """``(oid, value)`` to write to switch ``outlet`` to ON or OFF."""
        if power_state == PowerState.ON:
            return self._oid(self.on_oid, outlet), self.on_value
        return self._oid(self.off_oid, outlet), self.off_value

    def status(self, outlet):
        """The OID that reports ``outlet``'s state."""
        return self._oid(self.status_oid, outlet)

    def state(self, value):
        """PowerState ON/OFF for a value read from :meth:`status`, else None."""
        if value in self.status_on:
            return PowerState.ON
        if value in self.status_off:
            return PowerState.OFF
        return None

    @property
    def control_oids(self):
        return sorted({self.on_oid, self.off_oid})


APC_MASTERSWITCH = OutletMib(
    "APC MasterSwitch (PowerNet-MIB sPDUOutletCtl: 1 on, 2 off, read back the same)",
    on_oid="1.3.6.1.4.1.318.1.1.4.4.2.1.3", on_value=1, off_value=2)

#: Named like Ironic's ``snmp_driver`` values.
DRIVERS = {
    "apc": APC_MASTERSWITCH,
    "apc_masterswitch": APC_MASTERSWITCH,
    "apc_masterswitchplus": OutletMib(
        "APC MasterSwitch Plus (PowerNet-MIB sPDUOutletControlMSPOutletCommand: "
        "1 on, 3 off)",
        on_oid="1.3.6.1.4.1.318.1.1.6.5.1.1.5", on_value=1, off_value=3),
    "apc_rackpdu": OutletMib(
        "APC Rack PDU (PowerNet-MIB rPDUOutletControlOutletCommand: 1 immediateOn, "
        "2 immediateOff; state from rPDUOutletStatusOutletState: 1 on, 2 off)",
        on_oid="1.3.6.1.4.1.318.1.1.12.3.3.1.1.4", on_value=1, off_value=2,
        status_oid="1.3.6.1.4.1.318.1.1.12.3.5.1.1.4", status_on=(1,), status_off=(2,)),
    "aten": OutletMib(
        "ATEN PDU (outlet power object <outlet>.0: 2 on, 1 off)",
        on_oid="1.3.6.1.4.1.21317.1.3.2.2.2.2", on_value=2, off_value=1,
        index="{outlet}.0"),
    "cyberpower": OutletMib(
        "CyberPower PDU (CPS-MIB ePDUOutletControlOutletCommand: 1 on, 2 off)",
        on_oid="1.3.6.1.4.1.3808.1.1.3.3.3.1.1.4", on_value=1, off_value=2),
    "eatonpower": OutletMib(
        "Eaton ePDU G3 (EATON-EPDU-MIB, unit 0: write 0 to outletControlOnCmd or "
        "outletControlOffCmd; outletControlStatus 1 on or pendingOff, 0 off or "
        "pendingOn)",
        on_oid="1.3.6.1.4.1.534.6.6.7.6.6.1.4", on_value=0,
        off_oid="1.3.6.1.4.1.534.6.6.7.6.6.1.3", off_value=0,
        status_oid="1.3.6.1.4.1.534.6.6.7.6.6.1.2", status_on=(1, 2), status_off=(0, 3),
        index="0.{outlet}"),
    "teltronix": OutletMib(
        "Teltronix PDU (outlet power: 2 on, 1 off)",
        on_oid="1.3.6.1.4.1.23620.1.2.2.1.4", on_value=2, off_value=1),
    "baytech_mrp27": OutletMib(
        "Baytech MRP27 (unit 1 outlet power: 1 on, 0 off)",
        on_oid="1.3.6.1.4.1.4779.1.3.5.3.1.3.1", on_value=1, off_value=0),
    # Tower 1, infeed 1, as Ironic: the state is read the way Sentry3 reports
    # it, a pending change (offWait, onWait) still being the old state.
    "servertech_sentry3": OutletMib(
        "Server Technology Sentry3 (Sentry3-MIB, tower 1 infeed 1: "
        "outletControlAction 1 on, 2 off; outletStatus 1 on or offWait, 0 off or "
        "onWait)",
        on_oid="1.3.6.1.4.1.1718.3.2.3.1.11", on_value=1, off_value=2,
        status_oid="1.3.6.1.4.1.1718.3.2.3.1.5", status_on=(1, 2), status_off=(0, 3),
        index="1.1.{outlet}"),
    # Sentry4 also reports pendOn/pendOff while sequencing outlets; read as
    # the state not reached yet (as Sentry3 and Eaton), so a switch waits for
    # the outlet rather than ending while it is still being sequenced.
    "servertech_sentry4": OutletMib(
        "Server Technology Sentry4 (Sentry4-MIB, unit 1 line 1: "
        "st4OutletControlAction 1 on, 2 off; st4OutletStatus 11 on, 3 idleOn or "
        "9 pendOff, 10 off, 2 idleOff or 8 pendOn)",
        on_oid="1.3.6.1.4.1.1718.4.1.8.5.1.2", on_value=1, off_value=2,
        status_oid="1.3.6.1.4.1.1718.4.1.8.5.1.1", status_on=(11, 3, 9),
        status_off=(10, 2, 8), index="1.1.{outlet}"),
    "raritan_pdu2": OutletMib(
        "Raritan PX2/PX3 (PDU2-MIB, PDU 1: switchingOperation 1 on, 0 off; "
        "outletSwitchingState 7 on, 8 off)",
        on_oid="1.3.6.1.4.1.13742.6.4.1.2.1.2", on_value=1, off_value=0,
        status_oid="1.3.6.1.4.1.13742.6.4.1.2.1.3", status_on=(7,), status_off=(8,),
        index="1.{outlet}"),
    "vertivgeist_pdu": OutletMib(
        "Vertiv Geist NU30017L/NU30019L (GEIST-V5-MIB: ctrlOutletAction 2 on, 4 off; "
        "ctrlOutletStatus 1 on or 3 on2off, 2 off or 4 off2on)",
        on_oid="1.3.6.1.4.1.21239.5.2.3.5.1.6", on_value=2, off_value=4,
        status_oid="1.3.6.1.4.1.21239.5.2.3.5.1.4", status_on=(1, 3), status_off=(2, 4)),
}

GENERIC = "generic"

#: Every ``snmp_driver`` value, in the order the docs list them.
DRIVER_NAMES = tuple(DRIVERS) + (GENERIC,)


def parse_values(text):
    """``"1"`` or ``"1,3"`` -> ``(1, 3)``; raise ValueError otherwise.

    Each value in ASCII decimal digits, as snmp_value_on/off and the outlet
    are read: ``int()`` alone took ``1_0`` as 10 and other scripts' digits,
    so a typo made another value mean on or off.
    """
    items = [t.strip() for t in str(text).split(",")]
    try:
        values = tuple(params.parse_int(t) for t in items)
    except ValueError:
        raise ValueError("must be an integer or a comma-separated list of integers "
                         "(decimal digits, e.g. 1,3)") from None
    return values


def generic(info):
    """An :class:`OutletMib` from the ``snmp_*`` fields of a generic node.

    ``info`` holds parsed driver_info; raises ValueError naming the field.
    """
    on_oid = normalize_oid(info["snmp_oid_control"])
    off_oid = info.get("snmp_oid_control_off")
    status_oid = info.get("snmp_oid_status")
    status_on = info.get("snmp_status_on")
    status_off = info.get("snmp_status_off")
    return OutletMib(
        "generic (OIDs and values from driver_info)",
        on_oid=on_oid, on_value=info["snmp_value_on"], off_value=info["snmp_value_off"],
        off_oid=normalize_oid(off_oid) if off_oid else None,
        status_oid=normalize_oid(status_oid) if status_oid else None,
        status_on=parse_values(status_on) if status_on not in (None, "") else None,
        status_off=parse_values(status_off) if status_off not in (None, "") else None)
