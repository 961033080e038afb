"""``FloatOpt``: oslo.config's, refusing ``nan`` and ``inf``.

oslo.config's float type checks ``min`` and ``max`` with comparisons that
``nan`` always passes, and ``inf`` passes any ``min``: ``lease_duration =
nan`` or ``reboot_delay = inf`` loaded, then broke a sleep or a deadline far
from the setting (an outlet left off by an overflowing ``sleep()``). Every
float option of hwdrivers is a number of seconds or a rate, finite by
nature, so they are all declared with this one.
"""

import math

from oslo_config import cfg
from oslo_config import types


class FiniteFloat(types.Float):
    """oslo.config's Float, finite: what it says of a bad value names both bounds."""

    def __call__(self, value):
        number = super().__call__(value)
        if not math.isfinite(number):
            raise ValueError("Should be a finite number, got %r" % (value,))
        return number


class FloatOpt(cfg.Opt):
    """``cfg.FloatOpt`` whose value must be finite (same sample, same help)."""

    def __init__(self, name, min=None, max=None, **kwargs):
        super().__init__(name, type=FiniteFloat(min=min, max=max), **kwargs)
