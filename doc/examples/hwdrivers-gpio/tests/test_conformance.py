"""The gpio power interface passes hwdrivers' conformance checks.

A plain file stands in for the GPIO line's value file, so the checks run
anywhere: ``pip install -e '.[test]' && python -m pytest tests`` (or
``python -m unittest discover tests``).
"""

import os
import tempfile
import unittest

from hwdrivers.testing import conformance


class TestGPIOPower(conformance.PowerConformance, unittest.TestCase):
    hardware_type = "gpio-relay"
    power_timeout = 5.0

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.value_path = os.path.join(directory.name, "gpio17", "value")
        os.makedirs(os.path.dirname(self.value_path))
        with open(self.value_path, "w") as handle:
            handle.write("0")
        super().setUp()

    def driver_info(self):
        return {"gpio_value_path": self.value_path}

    def unreachable_driver_info(self, host, port):
        # No network here: an unexported line is the controller that is not there.
        return {"gpio_value_path": os.path.join(os.path.dirname(self.value_path),
                                                "missing", "value")}
