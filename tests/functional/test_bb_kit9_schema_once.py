"""Callers that find an executable's schema uncached together run it once.

The schema is read once per version of the file, the doc promises; but
every caller that found the cache cold ran the executable itself, so the
power sync's threads (or a listing and an action) after a driver upgrade
started one ``schema`` run each. Real sh executable, through the real
supervisor; the threads wait on a barrier so they ask together.
"""

import threading

from hwdrivers.drivers.modules import external


def test_concurrent_callers_share_one_schema_read(external_drivers, tmp_path):
    runs = tmp_path / "runs"
    path = external_drivers.add("relay", (
        "#!/bin/sh\necho \"$1\" >> %s\nif [ \"$1\" = schema ]; then sleep 0.3; "
        "echo '{\"fields\": [{\"name\": \"pw\", \"secret\": true}]}'; fi\n" % runs))
    barrier = threading.Barrier(6)
    schemas = []

    def load():
        barrier.wait()
        schemas.append(external.load_schema(path))
    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert runs.read_text().split() == ["schema"]
    assert len(schemas) == 6 and all(s is schemas[0] for s in schemas)
    assert schemas[0].schema.secret_names == {"pw"}


def test_a_failed_read_is_shared_too(external_drivers, tmp_path):
    runs = tmp_path / "runs"
    path = external_drivers.add("broken", (
        "#!/bin/sh\necho \"$1\" >> %s\nsleep 0.3; echo 'not a schema'\n" % runs))
    barrier = threading.Barrier(4)
    errors = []

    def load():
        barrier.wait()
        try:
            external.load_schema(path)
        except Exception as exc:  # noqa: BLE001 (collected and checked below)
            errors.append(exc)
    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert runs.read_text().split() == ["schema"]
    assert len(errors) == 4 and all("not a usable schema" in str(e) for e in errors)
