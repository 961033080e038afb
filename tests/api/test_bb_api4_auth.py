"""HTTP Basic as an operator meets it: an htpasswd file rewritten while the
server runs, paths that must not pass as boot files, and log lines that an
anonymous client must not be able to blow up."""

import base64
import logging
import os

import bcrypt
import flask
import pytest
from werkzeug.test import Client

from hwdrivers.api import auth


def _line(user, password):
    return "%s:%s\n" % (user, bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))
                        .decode())


def _basic(user, password):
    raw = user.encode() + b":" + password.encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _downstream():
    app = flask.Flask("bb4-downstream")

    @app.route("/<path:rest>", methods=["GET", "HEAD", "POST"])
    def anything(rest):
        return {"user": flask.request.environ.get("REMOTE_USER")}

    return app


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "htpasswd"
    path.write_text(_line("admin", "old-pw"))
    middleware = auth.BasicAuthMiddleware(_downstream(), str(path), cache_ttl=0)
    return Client(middleware), middleware, path


def _status(client, middleware, password):
    middleware._next_check = 0  # skip the once-a-second pacing of reload checks
    return client.get("/v1/nodes", headers=_basic("admin", password)).status_code


def test_a_truncate_then_write_with_one_mtime_is_picked_up(served):
    """An editor truncates then writes; both steps carry the same mtime
    when they fall in one clock tick. A check between them loaded the empty
    file, and by mtime alone the written file was never loaded: every user
    refused until the next edit."""
    client, middleware, path = served
    path.write_text("")
    os.utime(path, ns=(10**9, 10**9))
    assert _status(client, middleware, "old-pw") == 401  # empty file: nobody
    path.write_text(_line("admin", "new-pw"))
    os.utime(path, ns=(10**9, 10**9))
    assert _status(client, middleware, "new-pw") == 200


def test_a_file_replaced_with_the_same_mtime_and_size_is_picked_up(served, tmp_path):
    """``cp -p``/``rsync -t`` of an edited copy: same mtime, same size (bcrypt
    hashes have one length), another inode."""
    client, middleware, path = served
    stat = os.stat(path)
    assert _status(client, middleware, "old-pw") == 200
    new = tmp_path / "htpasswd.new"
    new.write_text(_line("admin", "new-pw"))
    assert new.stat().st_size == stat.st_size
    os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(new, path)
    assert _status(client, middleware, "new-pw") == 200
    assert _status(client, middleware, "old-pw") == 401


@pytest.mark.parametrize("path", ["/boot/../v1/nodes", "/boot/..", "/boot/a/../../x",
                                  "/boot/%2e%2e/v1/nodes"])
def test_dot_dot_under_boot_needs_credentials(served, path):
    """Boot files are public, paths with a ``..`` segment are not meant to
    be: the first segment slipped through the pattern."""
    client, _, _ = served
    assert client.get(path).status_code == 401


def test_boot_files_stay_public(served):
    client, _, _ = served
    assert client.get("/boot/boot.ipxe").status_code == 200
    assert client.get("/boot/images/a..b/kernel").status_code == 200


def test_a_huge_user_name_is_cut_in_the_log(served, caplog):
    """A wrong guess logs the user name; a name of 100,000 characters made a
    100 kB warning line per guess, from anyone who reaches the port."""
    client, _, _ = served
    name = "u" * 100000
    with caplog.at_level(logging.WARNING, logger="hwdrivers.api.auth"):
        response = client.get("/v1/nodes", headers=_basic(name, "x"))
    assert response.status_code == 401
    failures = [r.getMessage() for r in caplog.records if "failed for user" in r.getMessage()]
    assert len(failures) == 1
    assert len(failures[0]) < 400 and "(99874 more characters)" in failures[0]  # of its repr


def _cost_line(user, cost):
    return "%s:%s\n" % (user, bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=cost)).decode())


def _costs_checked_for_unknown_users(client, middleware):
    """The bcrypt cost of the hash an unknown user's password is checked against."""
    seen = []

    def checkpw(password, hashed):
        seen.append(int(hashed[4:6]))
        return bcrypt.checkpw(password, hashed)

    middleware._bcrypt = type("Spy", (), {"checkpw": staticmethod(checkpw),
                                          "hashpw": staticmethod(bcrypt.hashpw),
                                          "gensalt": staticmethod(bcrypt.gensalt)})
    middleware._next_check = 0
    assert client.get("/v1/nodes", headers=_basic("nobody", "x"),
                      environ_base={"REMOTE_ADDR": "192.0.2.%d" % len(seen)}).status_code == 401
    return seen[-1]


def test_unknown_users_cost_what_most_users_cost_even_after_a_reload(tmp_path):
    """An unknown name is checked against a dummy hash so it takes as long as
    a known one. The dummy had the first user's cost, for ever: with
    ``htpasswd -B`` users (cost 5) after a cost-4 one, or once the file was
    rehashed and reloaded, the stopwatch told real names from unknown ones."""
    path = tmp_path / "htpasswd"
    path.write_text(_cost_line("first", 4) + _cost_line("b", 5) + _cost_line("c", 5))
    middleware = auth.BasicAuthMiddleware(_downstream(), str(path))
    client = Client(middleware)
    assert _costs_checked_for_unknown_users(client, middleware) == 5
    path.write_text(_cost_line("first", 6) + _cost_line("b", 6))
    assert _costs_checked_for_unknown_users(client, middleware) == 6


def test_2a_hashes_are_accepted_as_ironic_does(tmp_path):
    """Go's bcrypt, Spring's and many generators write ``$2a$``; Ironic takes
    them. Such a line stopped start-up, so an htpasswd file that served
    Ironic could not serve hwdrivers."""
    hashed = bcrypt.hashpw(b"go-made", bcrypt.gensalt(rounds=4))
    path = tmp_path / "htpasswd"
    path.write_text("gouser:$2a$%s\n" % hashed[4:].decode())
    client = Client(auth.BasicAuthMiddleware(_downstream(), str(path)))
    assert client.get("/v1/nodes", headers=_basic("gouser", "go-made")).status_code == 200
    assert client.get("/v1/nodes", headers=_basic("gouser", "wrong")).status_code == 401
