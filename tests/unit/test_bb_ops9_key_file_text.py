"""What the key file option and file hold, as operators leave them.

A key file saved by an editor that starts it with a UTF-8 byte order mark
was read as ASCII: the mark became three replacement characters
glued to the first key, and the file was refused with "line 1 is not a
Fernet key" -- about a key that looks right in every editor.
"""

from cryptography import fernet

from hwdrivers.common import secrets


def test_a_byte_order_mark_before_the_first_key_is_skipped(tmp_path):
    key = fernet.Fernet.generate_key()
    path = tmp_path / "secrets.key"
    path.write_bytes(b"\xef\xbb\xbf" + key + b"\r\n")
    path.chmod(0o600)
    assert secrets.read_key_file(str(path)) == [key]


def test_a_blank_key_file_option_is_named_as_blank(tmp_path, monkeypatch):
    """``key_file =`` left empty read as "does not exist, but the database holds
    encrypted secrets" (whatever it held), or failed to write a temporary
    file in the current directory."""
    monkeypatch.chdir(tmp_path)
    for use in (lambda: secrets.read_key_file(""), lambda: secrets.add_key(""),
                lambda: secrets.Keyring("", create=True)):
        try:
            use()
        except secrets.KeyFileError as error:
            assert str(error).startswith("[secrets] key_file is empty: set it to the "
                                         "path of the key file"), error
        else:
            raise AssertionError("a blank key_file was used")
    assert list(tmp_path.iterdir()) == []
