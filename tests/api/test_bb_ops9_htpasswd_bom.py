"""An htpasswd file that starts with a UTF-8 byte order mark (Notepad, some
config tools) kept the mark in the first user's name: that user was refused
with "Incorrect username or password" and a log line naming a user who looks
exactly like the one in the file, and naming them in ``[api] reader_users``
stopped start-up saying they had no entry. The mark is now skipped."""

import base64

import bcrypt

from hwdrivers.api import auth


def test_the_first_user_of_a_file_with_a_byte_order_mark_gets_in(tmp_path):
    stored = bcrypt.hashpw(b"Pass-1", bcrypt.gensalt(rounds=4)).decode()
    users = tmp_path / "htpasswd"
    users.write_bytes(("\ufeffadmin:%s\nviewer:%s\n" % (stored, stored)).encode("utf-8"))
    app = auth.BasicAuthMiddleware(lambda environ, start: (start("200 OK", []), [b"{}"])[1],
                                   str(users), reader_users=["admin"])
    statuses = []
    app({"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/nodes", "REMOTE_ADDR": "192.0.2.1",
         "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"admin:Pass-1").decode()},
        lambda status, headers: statuses.append(status))
    assert statuses == ["200 OK"]
    assert sorted(auth.load_htpasswd(str(users))) == ["admin", "viewer"]
