"""Values the conductor keeps on a node that no output may show.

driver_info secrets are declared by each interface (drivers/params.py);
these belong to the conductor: the ramdisk agent's one-time token and the
config drive (user data often carries passwords and keys). Every view of a
node (API documents, CLI output) passes through :func:`mask`.
"""

MASK = "******"

#: node field -> keys masked in it
MASKED_KEYS = {
    "driver_internal_info": ("agent_secret_token",),
    "instance_info": ("configdrive",),
}


def mask(values: dict) -> dict:
    """``values`` (a node as a dict) with the keys above masked; a copy if changed."""
    masked = None
    for field, keys in MASKED_KEYS.items():
        inner = values.get(field)
        if not inner or not isinstance(inner, dict):
            continue
        for key in keys:
            if inner.get(key):
                break
        else:
            continue
        masked = masked if masked is not None else dict(values)
        masked[field] = {k: (MASK if k in keys and v else v) for k, v in inner.items()}
    return masked if masked is not None else values
