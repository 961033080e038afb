"""A key file saved by an editor that starts it with a UTF-8 byte order mark.

The file was read as ASCII, the mark became three replacement characters
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
