"""The kinds of interface a hardware type composes.

Kept in ``common`` because configuration (one ``enabled_<type>_interfaces``
option per kind) and drivers both need the list, and ``conf`` must not
import ``drivers``.
"""

__all__ = [
    "REQUIRED", "OPTIONAL", "ALL", "NODE_FIELDS", "NAMESPACE", "HARDWARE_TYPES_NAMESPACE",
]

#: Every node has one of each; a hardware type must offer an enabled one.
REQUIRED = ("boot", "deploy", "management", "power")

#: Optional kinds; each has a ``no-<kind>`` implementation that refuses.
OPTIONAL = ("console", "inspect", "raid", "bios", "vendor", "rescue")

ALL = REQUIRED + OPTIONAL

#: The node fields naming each kind's implementation (``power_interface``...).
NODE_FIELDS = tuple("%s_interface" % kind for kind in ALL)

#: Entry-point namespace of the implementations of one kind of interface.
NAMESPACE = "hwdrivers.hardware.interfaces.%s"

#: Entry-point namespace of hardware types.
HARDWARE_TYPES_NAMESPACE = "hwdrivers.hardware.types"
