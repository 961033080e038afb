"""Real ConductorService objects in this process, for the tests that call their periodics."""

import contextlib

from hwdrivers.conductor import service as service_mod


@contextlib.contextmanager
def started(config, hosts, **options):
    """A started, partitioned ConductorService per host of ``hosts`` (one group); stopped after.

    Yields ``{host: service}``. Their periodics are off or an hour apart
    (heartbeats), so that the test calls them itself and nothing is timed;
    ``options`` are further settings for the ``config`` fixture.
    """
    config(conductor__sync_power_state_interval=0,
           conductor__power_failure_recovery_interval=0,
           deploy__check_timeouts_interval=0,
           conductor__heartbeat_interval=3600, **options)
    made = {}
    try:
        for host in hosts:
            config(host=host)
            made[host] = service_mod.ConductorService(partitioned=True)
            made[host].start()
        yield made
    finally:
        for svc in made.values():
            svc.stop(timeout=5)
