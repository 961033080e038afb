"""An ssh_key ssh cannot use says why, not "check authorized_keys" or "chmod 600".

ssh in BatchMode says only "Permission denied (publickey)" for a key
protected by a passphrase, and "readable by others" or "error in libcrypto"
for a public key (the .pub given by mistake) or a file that is no key: the
operator was told to check authorized_keys or to chmod a file that can
never work. Keys made by ssh-keygen, used against the real sshd.
"""

import os
import subprocess

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conf import command_profile
from hwdrivers.drivers.modules import ssh
from hwdrivers.drivers.task import StandaloneTask

CONF = hw_conf.CONF


def keygen(directory, name, *options, passphrase=""):
    path = os.path.join(directory, name)
    subprocess.run(["ssh-keygen", "-q", "-N", passphrase, "-C", name, "-f", path, *options],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("keys"))
    made = {
        "openssh": keygen(directory, "plain", "-t", "ed25519"),
        "openssh, passphrase": keygen(directory, "locked", "-t", "ed25519",
                                      passphrase="pass phrase"),
        "pem": keygen(directory, "pem", "-t", "ecdsa", "-m", "PEM"),
        "pem, passphrase": keygen(directory, "pem-locked", "-t", "ecdsa", "-m", "PEM",
                                  passphrase="pass phrase"),
        "pkcs8, passphrase": keygen(directory, "p8-locked", "-t", "ecdsa", "-m", "PKCS8",
                                    passphrase="pass phrase"),
    }
    made["public"] = made["openssh"] + ".pub"
    made["not a key"] = os.path.join(directory, "notes")
    with open(made["not a key"], "w") as handle:
        handle.write("hypervisor 3, rack 12\n")
    for path in made.values():
        os.chmod(path, 0o600)
    return made


@pytest.mark.parametrize("kind, problem", [
    ("openssh", None), ("pem", None),
    ("openssh, passphrase", "protected by a passphrase"),
    ("pem, passphrase", "protected by a passphrase"),
    ("pkcs8, passphrase", "protected by a passphrase"),
    ("public", "is a public key"),
    ("not a key", "is not a private key"),
])
def test_key_problem(keys, kind, problem):
    found = ssh.key_problem(keys[kind])
    assert (found is None) if problem is None else (problem in found), found


@pytest.fixture
def profile(config, sshd):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__command_retry_timeout=0.0,
           command__command_timeout=15.0)

    def task(**options):
        command_profile.register_profile(
            CONF, "keyed", power_on="true", power_off="true", power_status="echo on",
            **sshd.profile_options(**options))
        return StandaloneTask.for_driver("command", {"command_profile": "keyed"}, name="vm1")
    yield task
    ssh.close_masters()


@pytest.mark.parametrize("kind, fix", [
    ("openssh, passphrase", "ssh-keygen -p -N '' -f KEY"),
    ("public", "set the path of the private key"),
    ("not a key", "is not a private key"),
])
def test_an_unusable_key_is_a_settings_error_saying_why(profile, keys, kind, fix):
    task = profile(ssh_key=keys[kind])
    with pytest.raises(exception.DriverSettingsError) as caught:
        task.driver.power.get_power_state(task)
    text = str(caught.value)
    assert text.startswith("[command_profile:keyed] ssh_key %s " % keys[kind]), text
    assert fix in text and "authorized_keys" not in text and "chmod" not in text, text


def test_a_usable_key_the_server_refuses_is_still_an_auth_error(profile, sshd):
    task = profile(ssh_key=sshd.other_key)
    with pytest.raises(exception.DriverAuthError, match="authorized_keys"):
        task.driver.power.get_power_state(task)


def test_the_authorized_key_works(profile):
    task = profile()
    assert task.driver.power.get_power_state(task) == PowerState.ON


def test_a_directory_user_at_domain_reaches_the_server_intact(profile, sshd):
    """user@domain (sssd, winbind) is a login name: it was refused as a setting."""
    offset = sshd.log_size()
    task = profile(user="svc-power@corp.example")
    task.driver.power.validate(task)
    with pytest.raises(exception.DriverAuthError):  # no such user on the test server
        task.driver.power.get_power_state(task)
    assert "Invalid user svc-power@corp.example from" in sshd.log_since(offset)


@pytest.mark.parametrize("user", ["-oProxyCommand=x", "@corp", "a b", "a;b"])
def test_a_user_that_is_no_login_name_is_refused(profile, user):
    with pytest.raises(exception.ConfigInvalid, match="must be letters, digits and ._@-"):
        task = profile(user=user)
        task.driver.power.validate(task)
