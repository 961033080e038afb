"""hwdrivers.common.secrets: the key file, sealing and opening driver_info values."""

import os
import stat

import pytest
from cryptography import fernet

from hwdrivers.common import exception
from hwdrivers.common import secrets
from tests.waits import wait_for

CANARY = "canary-Pa55w0rd-7f3a"


@pytest.fixture
def key_path(tmp_path):
    return str(tmp_path / "state" / "secrets.key")


@pytest.fixture
def declared():
    """Declare fake_password secret for one test, restoring the table after."""
    saved = secrets._declared, list(secrets._dynamic)
    secrets.declare_secret_fields({"fake_password"})
    yield
    secrets._declared, secrets._dynamic[:] = saved[0], saved[1]


def test_key_file_is_created_private_whatever_the_umask(key_path):
    old = os.umask(0)
    try:
        ring = secrets.Keyring(key_path, create=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(key_path)).st_mode) == 0o700
    assert ring.key_count == 1
    # A second ring on the same file uses the same key (no new one is made).
    envelope = ring.seal(CANARY)
    assert secrets.Keyring(key_path, create=True).open(envelope, "f", "n") == CANARY


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o602])
def test_key_file_readable_by_others_is_refused(key_path, mode):
    secrets.Keyring(key_path, create=True)
    os.chmod(key_path, mode)
    with pytest.raises(secrets.KeyFileError) as info:
        secrets.Keyring(key_path)
    message = str(info.value)
    assert key_path in message and "chmod 600" in message and "%04o" % mode in message
    assert info.value.option == "[secrets] key_file"
    assert isinstance(info.value, exception.ConfigInvalid)


def test_unreadable_or_odd_key_files_are_refused_clearly(tmp_path, key_path):
    link = tmp_path / "link.key"
    link.symlink_to(tmp_path / "elsewhere.key")
    with pytest.raises(secrets.KeyFileError, match="link.key is a symbolic link"):
        secrets.Keyring(str(link))
    (tmp_path / "dir.key").mkdir()
    with pytest.raises(secrets.KeyFileError, match="is not a regular file"):
        secrets.Keyring(str(tmp_path / "dir.key"))
    with pytest.raises(secrets.KeyFileError, match="does not exist"):
        secrets.Keyring(key_path)  # not created unless asked to


def test_malformed_key_lines_are_named_but_not_echoed(key_path):
    good = fernet.Fernet.generate_key().decode()
    bad = good[:-3] + "!!="
    os.makedirs(os.path.dirname(key_path))
    with open(key_path, "w") as handle:
        handle.write("# comment\n\n%s\n%s\n" % (good, bad))
    os.chmod(key_path, 0o600)
    with pytest.raises(secrets.KeyFileError) as info:
        secrets.Keyring(key_path)
    assert "line 4 is not a Fernet key" in str(info.value)
    assert bad not in str(info.value) and good not in str(info.value)
    with open(key_path, "w") as handle:
        handle.write("# only a comment\n")
    with pytest.raises(secrets.KeyFileError, match="holds no key"):
        secrets.Keyring(key_path)


def test_seal_and_open_keep_the_type_and_hide_the_value(key_path):
    ring = secrets.Keyring(key_path, create=True)
    for value in (CANARY, 623, "pässwörd", ["a", 1]):
        envelope = ring.seal(value)
        assert set(envelope) == {secrets.ENVELOPE}
        assert str(value) not in envelope[secrets.ENVELOPE]
        fresh = secrets.Keyring(key_path)  # no cache: a real decryption
        assert fresh.open(envelope, "f", "n") == value
    # Random per encryption: equal values are not recognisable in the database.
    assert ring.seal(CANARY) != ring.seal(CANARY)


def test_wrong_key_is_a_clear_error_not_an_empty_value(tmp_path, key_path):
    envelope = secrets.Keyring(key_path, create=True).seal(CANARY)
    other = secrets.Keyring(str(tmp_path / "other.key"), create=True)
    with pytest.raises(secrets.SecretUnreadable) as info:
        other.open(envelope, "ipmi_password", "db1")
    message = str(info.value)
    assert "Node db1: driver_info field ipmi_password cannot be decrypted" in message
    assert str(tmp_path / "other.key") in message and "--forget-unreadable" in message
    assert CANARY not in message
    assert info.value.code == 503
    with pytest.raises(secrets.SecretUnreadable, match="not a token"):
        other.open({secrets.ENVELOPE: 12}, "ipmi_password", "db1")


def test_rotation_old_keys_still_decrypt_and_new_key_encrypts(key_path, monkeypatch):
    ring = secrets.Keyring(key_path, create=True)
    old_envelope = ring.seal(CANARY)
    assert secrets.add_key(key_path) == 2
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    with open(key_path) as handle:
        newest = [line for line in handle.read().splitlines()
                  if line and not line.startswith("#")][0].encode()
    # A running process picks the new key up on its next seal (one stat a second).
    monkeypatch.setattr(ring, "_next_reload", 0.0)
    new_envelope = ring.seal(CANARY)
    assert ring.key_count == 2
    assert fernet.Fernet(newest).decrypt(new_envelope[secrets.ENVELOPE].encode())
    assert ring.is_current(new_envelope) and not ring.is_current(old_envelope)
    fresh = secrets.Keyring(key_path)
    assert fresh.open(old_envelope, "f", "n") == CANARY
    assert fresh.open(new_envelope, "f", "n") == CANARY


def test_a_process_reloads_keys_it_lacks_on_a_failed_decryption(tmp_path, key_path):
    reader = secrets.Keyring(key_path, create=True)
    secrets.add_key(key_path)
    writer = secrets.Keyring(key_path)  # has the new key first
    envelope = writer.seal(CANARY)
    reader._next_reload = 0.0
    assert reader.open(envelope, "f", "n") == CANARY


def test_opened_tokens_are_cached_and_the_cache_is_bounded(key_path, monkeypatch):
    ring = secrets.Keyring(key_path, create=True)
    envelope = secrets.Keyring(key_path).seal(CANARY)
    calls = []
    real = ring._multi.decrypt
    monkeypatch.setattr(ring._multi, "decrypt", lambda t: calls.append(t) or real(t))
    for _ in range(100):
        assert ring.open(envelope, "f", "n") == CANARY
    assert len(calls) == 1
    monkeypatch.setattr(secrets, "CACHE_SIZE", 10)
    for i in range(50):
        ring.seal("value-%d" % i)
    assert len(ring._cache) == 10


def test_driver_info_declared_secrets_are_sealed_and_opened(key_path, declared):
    ring = secrets.Keyring(key_path, create=True)
    info = {"fake_password": CANARY, "fake_username": "admin", "empty": ""}
    sealed = secrets.seal_fields(info, lambda: ring)
    assert sealed["fake_username"] == "admin"
    assert secrets.is_sealed(sealed["fake_password"])
    assert CANARY not in repr(sealed)
    assert info["fake_password"] == CANARY  # the caller's dict is not changed
    assert secrets.open_fields(sealed, lambda: ring, "n") == info
    # Nothing to seal or open: no key ring is needed, the same dict comes back.
    plain = {"fake_username": "admin", "fake_password": ""}

    def no_ring():
        raise AssertionError("no key needed")

    assert secrets.seal_fields(plain, no_ring) == plain
    assert secrets.open_fields(plain, no_ring, "n") is plain


def test_per_node_declarations_and_envelope_lookalikes(key_path, declared):
    class Registry:
        def names(self, driver_info):
            return {"own_secret"} if driver_info.get("external_driver") else set()

    registry = Registry()
    secrets.declare_secret_fields((), registry.names)
    assert secrets.secret_fields({"own_secret": "x", "external_driver": "d"}) == {
        "own_secret"}
    assert secrets.secret_fields({"own_secret": "x"}) == frozenset()
    del registry  # held weakly: a discarded registry is forgotten
    # (once no other thread is inside secret_fields holding it for a call:
    # earlier tests' background threads may be)
    wait_for(lambda: secrets.secret_fields(
        {"own_secret": "x", "external_driver": "d"}) == frozenset(), timeout=5,
        message="the discarded registry's declarations to be forgotten")
    ring = secrets.Keyring(key_path, create=True)
    with pytest.raises(exception.InvalidParameterValue, match="reserved for encrypted"):
        secrets.seal_fields({"extra": {secrets.ENVELOPE: "forged"}}, lambda: ring)


def test_a_missing_key_file_on_read_names_the_node(tmp_path):
    path = str(tmp_path / "absent.key")
    with pytest.raises(secrets.SecretUnreadable) as info:
        secrets.open_fields({"fake_password": {secrets.ENVELOPE: "x"}},
                            lambda: secrets.Keyring(path), "db7")
    assert "Node db7" in str(info.value) and "does not exist" in str(info.value)


def test_processes_starting_at_once_share_one_new_key(tmp_path):
    """Many services creating the same key file at once: one key, never a half file."""
    import multiprocessing

    path = str(tmp_path / "shared" / "secrets.key")
    context = multiprocessing.get_context("fork")
    with context.Pool(8) as pool:
        tokens = pool.map(_seal_in_new_ring, [path] * 16)
    ring = secrets.Keyring(path)
    assert ring.key_count == 1
    assert {ring.open({secrets.ENVELOPE: t}, "f", "n") for t in tokens} == {CANARY}
    assert os.listdir(tmp_path / "shared") == ["secrets.key"]  # no temporary left


def _seal_in_new_ring(path):
    return secrets.Keyring(path, create=True).seal(CANARY)[secrets.ENVELOPE]
