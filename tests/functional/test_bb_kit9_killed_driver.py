"""A driver killed by a signal is said to be, not to have exited -9.

The supervisor reports a driver a signal ended (the kernel's OOM killer, a
crash) as minus the signal's number, which the error showed as "exit
status -9": a status the driver never chose, and which sent its author
looking for an ``exit -9`` in the code. Real sh executables, run through
the real supervisor.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.task import StandaloneTask


@pytest.mark.parametrize("signal, said", [("KILL", "(killed by SIGKILL)"),
                                          ("TERM", "(killed by SIGTERM)")])
def test_a_driver_a_signal_killed_is_named_by_the_signal(external_drivers, signal, said):
    external_drivers.add("crashy", "#!/bin/sh\nif [ \"$1\" = schema ]; then echo '{}'; "
                                   "exit 0; fi\ncat >/dev/null\nkill -%s $$\n" % signal)
    task = StandaloneTask.for_driver("external", {"external_driver": "crashy"})
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.get_power_state(task)
    text = str(caught.value)
    assert "gave no valid answer to power_query %s" % said in text, text
    assert "exit status -" not in text, text


def test_an_exit_status_is_still_one(external_drivers):
    external_drivers.add("failing", "#!/bin/sh\nif [ \"$1\" = schema ]; then echo '{}'; "
                                    "exit 0; fi\ncat >/dev/null\nexit 9\n")
    task = StandaloneTask.for_driver("external", {"external_driver": "failing"})
    with pytest.raises(exception.DriverActionError, match=r"power_query \(exit status 9\)"):
        task.driver.power.get_power_state(task)
