"""The local CLI treats a misspelt config as the services and dbsync do.

A misspelt ``[database] connection`` is refused before any database is
touched (left alone, ``hwdrivers node ...`` would act on the default SQLite
database under ``state_path``); any other option nothing reads is a warning.
Real subprocesses, real files: what an operator's shell sees.
"""

import os
import subprocess
import sys

CLI = os.path.join(os.path.dirname(sys.executable), "hwdrivers")


def _run(conf, *args):
    return subprocess.run([CLI, "--config-file", str(conf)] + list(args),
                          capture_output=True, text=True, timeout=120)


def test_a_misspelt_database_setting_is_refused_and_touches_nothing(tmp_path):
    state = tmp_path / "state"
    for name, text in [("group", "[databse]\nconnection = sqlite:///%s\n"),
                       ("option", "[database]\nconection = sqlite:///%s\n")]:
        conf = tmp_path / ("%s.conf" % name)
        conf.write_text("[DEFAULT]\nstate_path = %s\n" % state
                        + text % (tmp_path / "meant.sqlite"))
        done = _run(conf, "node", "list")
        assert done.returncode == 1, done.stdout
        assert "Traceback" not in done.stderr
        meant = "[database]" if name == "group" else "connection"
        assert "did you mean %s?" % meant in done.stderr, done.stderr
        assert str(conf) in done.stderr and "nothing was changed" in done.stderr
    assert not state.exists() and not (tmp_path / "meant.sqlite").exists()


def test_an_option_nothing_reads_is_a_warning_and_the_command_runs(tmp_path):
    conf = tmp_path / "cli.conf"
    conf.write_text("[DEFAULT]\nstate_path = %s\n[conductor]\nworkers_pool_sise = 3\n"
                    % (tmp_path / "state"))
    for command in (["node", "list"], ["driver", "list"]):
        done = _run(conf, *command)
        assert done.returncode == 0, done.stderr
        assert done.stderr.count("workers_pool_sise is not an option") == 1, done.stderr
        assert "did you mean workers_pool_size?" in done.stderr


def test_groups_the_drivers_register_are_known_and_checked(tmp_path):
    """[hardware_type:*] groups exist once the drivers are loaded: a file with
    one loads them before the check (an enabled type's group is no warning,
    a misspelt one is), and a file with nothing unknown loads none."""
    state = tmp_path / "state"
    conf = tmp_path / "types.conf"
    conf.write_text("[DEFAULT]\nstate_path = %s\n[hardware_type:ipmi]\n"
                    "default_power_interface = ipmitool\n[hardware_type:ipmni]\n"
                    "default_power_interface = ipmitool\n" % state)
    done = _run(conf, "node", "list")
    assert done.returncode == 0, done.stderr
    assert "[hardware_type:ipmni] is not an enabled hardware type" in done.stderr
    assert "[hardware_type:ipmi] " not in done.stderr, done.stderr
    clean = tmp_path / "clean.conf"
    clean.write_text("[DEFAULT]\nstate_path = %s\n[conductor]\nworkers_pool_size = 3\n"
                     % state)
    probe = ("import sys; sys.argv = ['hwdrivers', '--config-file', %r, 'node', "
             "'list']\nfrom hwdrivers.cmd import cli\ntry:\n    cli.main()\n"
             "except SystemExit:\n    pass\n"
             "print('LOADED=%%s' %% ('hwdrivers.drivers.ipmi' in sys.modules))" % str(clean))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.strip().endswith("LOADED=False"), done.stdout
