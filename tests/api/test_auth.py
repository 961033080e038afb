"""HTTP Basic authentication of the API: bcrypt htpasswd, reader role, cache."""

import base64
import json
import logging
import os
import shutil
import subprocess

import bcrypt
import flask
import pytest
from werkzeug.test import Client

from hwdrivers import conf as hw_conf
from hwdrivers.api import auth
from hwdrivers.common import exception

ADMIN_PW = "s3cret-admin-pw"
READER_PW = "r3ader-pw"


def _hash(password, prefix=b"$2b$"):
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))
    return (prefix + hashed[4:]).decode()


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "htpasswd"
    # $2y$ is what `htpasswd -B` writes; $2b$ what Python's bcrypt writes.
    path.write_text("# API users\nadmin:%s\n\nviewer:%s\n"
                    % (_hash(ADMIN_PW), _hash(READER_PW, b"$2y$")))
    return path


def _downstream():
    app = flask.Flask("downstream")

    @app.route("/", methods=["GET"])
    @app.route("/v1", methods=["GET"])
    def root():
        return {"versions": []}

    @app.route("/v1/nodes", methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT"])
    def nodes():
        env = flask.request.environ
        return {"user": env.get("REMOTE_USER"),
                "auth": env.get("hwdrivers.auth"),
                "saw_header": "HTTP_AUTHORIZATION" in env}

    return app


@pytest.fixture
def client(config, user_file):
    config(api__auth_strategy="http_basic",
           api__http_basic_auth_user_file=str(user_file),
           api__reader_users=["viewer"])
    wrapped = auth.wrap(_downstream(), hw_conf.CONF)
    assert isinstance(wrapped, auth.BasicAuthMiddleware)
    return Client(wrapped), wrapped


def basic(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return {"Authorization": "Basic " + token}


def fault(response):
    body = response.get_json()
    inner = json.loads(body["error_message"])
    assert set(inner) == {"faultstring", "faultcode", "debuginfo"}
    assert inner["debuginfo"] is None
    return inner


def test_noauth_returns_the_app_unchanged(config):
    app = _downstream()
    assert auth.wrap(app, hw_conf.CONF) is app
    assert hw_conf.CONF.api.auth_strategy == "noauth"


def test_missing_credentials_get_401_with_challenge_and_ironic_shape(client):
    c, _ = client
    response = c.get("/v1/nodes")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="hwdrivers"'
    inner = fault(response)
    assert inner["faultcode"] == "Client"
    assert "HTTP Basic" in inner["faultstring"]


def test_version_documents_are_public(client):
    c, _ = client
    assert c.get("/").status_code == 200
    assert c.get("/v1").status_code == 200
    assert c.post("/v1").status_code == 401  # only reads are public


def test_admin_may_read_and_write_and_header_is_not_passed_on(client):
    c, _ = client
    for method in ("GET", "POST", "PATCH", "DELETE", "PUT"):
        response = c.open("/v1/nodes", method=method, headers=basic("admin", ADMIN_PW))
        assert response.status_code == 200, method
        data = response.get_json()
        assert data == {"user": "admin", "auth": {"user": "admin", "roles": ["admin"]},
                        "saw_header": False}


def test_reader_may_only_read(client):
    c, _ = client
    headers = basic("viewer", READER_PW)
    assert c.get("/v1/nodes", headers=headers).get_json()["auth"]["roles"] == ["reader"]
    assert c.head("/v1/nodes", headers=headers).status_code == 200
    for method in ("POST", "PATCH", "DELETE", "PUT"):
        response = c.open("/v1/nodes", method=method, headers=headers)
        assert response.status_code == 403, method
        assert "WWW-Authenticate" not in response.headers
        message = fault(response)["faultstring"]
        assert "reader role" in message and method in message


@pytest.mark.parametrize("user,password", [("admin", "wrong"), ("admin", ""),
                                           ("nobody", ADMIN_PW), ("viewer", ADMIN_PW)])
def test_wrong_credentials_are_refused_without_logging_the_password(
        client, caplog, user, password):
    c, _ = client
    with caplog.at_level(logging.DEBUG):
        response = c.get("/v1/nodes", headers=basic(user, password))
    assert response.status_code == 401
    assert fault(response)["faultstring"] == "Incorrect username or password."
    assert user in caplog.text
    if password:
        assert password not in caplog.text


@pytest.mark.parametrize("header,reason", [
    ("Bearer abc", "must be 'Basic"),
    ("Basic", "must be 'Basic"),
    ("Basic !!!notbase64", "not valid base64"),
    ("Basic " + base64.b64encode(b"no-colon").decode(), "not 'user:password'"),
])
def test_malformed_headers_get_a_clear_401(client, header, reason):
    c, _ = client
    response = c.get("/v1/nodes", headers={"Authorization": header})
    assert response.status_code == 401
    assert reason in fault(response)["faultstring"]


def test_password_with_colon_and_unicode(config, tmp_path):
    path = tmp_path / "htpasswd"
    password = "pa:ss-wörd"
    path.write_text("ops:%s\n" % _hash(password))
    c = Client(auth.BasicAuthMiddleware(_downstream(), str(path)))
    assert c.get("/v1/nodes", headers=basic("ops", password)).status_code == 200
    assert c.get("/v1/nodes", headers=basic("ops", "pa")).status_code == 401


def test_verifications_are_cached(client, monkeypatch):
    c, middleware = client
    calls = []
    real = bcrypt.checkpw

    def counting(password, hashed):
        calls.append(1)
        return real(password, hashed)

    monkeypatch.setattr(middleware._bcrypt, "checkpw", counting)
    for _ in range(200):
        assert c.get("/v1/nodes", headers=basic("admin", ADMIN_PW)).status_code == 200
    assert len(calls) == 1
    # A failure is never cached: each wrong attempt pays bcrypt.
    for _ in range(3):
        assert c.get("/v1/nodes", headers=basic("admin", "nope")).status_code == 401
    assert len(calls) == 4
    # The cache holds digests, not passwords.
    assert ADMIN_PW.encode() not in b"".join(middleware.cache._entries)


def test_cache_is_bounded_and_expires(monkeypatch):
    cache = auth._VerifiedCache(ttl=60, size=3)
    digests = [cache.digest("u%d" % i, b"pw", b"hash") for i in range(5)]
    for digest in digests:
        cache.add(digest)
    assert len(cache) == 3
    assert digests[0] not in cache and digests[4] in cache
    now = auth.time.monotonic()
    monkeypatch.setattr(auth.time, "monotonic", lambda: now + 61)
    assert digests[4] not in cache
    assert auth._VerifiedCache(ttl=0).__contains__(digests[0]) is False


def test_cache_ttl_zero_disables_cache(config, user_file, monkeypatch):
    middleware = auth.BasicAuthMiddleware(_downstream(), str(user_file), cache_ttl=0)
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(middleware._bcrypt, "checkpw",
                        lambda p, h: calls.append(1) or real(p, h))
    c = Client(middleware)
    for _ in range(3):
        assert c.get("/v1/nodes", headers=basic("admin", ADMIN_PW)).status_code == 200
    assert len(calls) == 3


def test_user_file_edits_are_picked_up_and_broken_edits_ignored(client, user_file, monkeypatch):
    c, middleware = client
    assert c.get("/v1/nodes", headers=basic("admin", ADMIN_PW)).status_code == 200
    user_file.write_text("admin:%s\nviewer:%s\n" % (_hash("new-pw"), _hash(READER_PW)))
    os.utime(user_file, ns=(1, 1))
    middleware._next_check = 0
    assert c.get("/v1/nodes", headers=basic("admin", ADMIN_PW)).status_code == 401
    assert c.get("/v1/nodes", headers=basic("admin", "new-pw")).status_code == 200
    # A broken file keeps the previous users (and says so in the log).
    user_file.write_text("admin:plaintext\n")
    os.utime(user_file, ns=(2, 2))
    middleware._next_check = 0
    assert c.get("/v1/nodes", headers=basic("admin", "new-pw")).status_code == 200


@pytest.mark.parametrize("line,expected", [
    ("admin:$apr1$abcdefgh$0123456789abcdefghijkl", "MD5-crypt"),
    ("admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA1"),
    ("admin:plaintext", "not a bcrypt hash"),
    ("admin:$2x$04$" + "a" * 53, "unsupported variant"),
    ("admin:$2b$04$tooshort", "unsupported variant or a malformed value"),
])
def test_non_bcrypt_lines_stop_start_up_naming_file_and_line(tmp_path, line, expected):
    path = tmp_path / "htpasswd"
    path.write_text("ok:%s\n%s\n" % (_hash("x"), line))
    with pytest.raises(exception.ConfigInvalid) as info:
        auth.load_htpasswd(str(path))
    message = str(info.value)
    assert "%s line 2" % path in message
    assert expected in message
    assert "htpasswd -B" in message
    assert line.partition(":")[2] not in message  # the hash is not echoed
    assert info.value.option == "[api] http_basic_auth_user_file"


@pytest.mark.parametrize("content,expected", [
    ("no-colon-here\n", "line 1 is not 'user:hash'"),
    (":%s\n" % "x", "line 1 is not 'user:hash'"),
    ("a:%s\na:%s\n" % ("h1", "h2"), None),  # replaced below
])
def test_malformed_files_are_refused(tmp_path, content, expected):
    path = tmp_path / "htpasswd"
    if expected is None:
        hashed = _hash("x")
        content = "a:%s\na:%s\n" % (hashed, hashed)
        expected = "line 2 repeats user a"
    path.write_text(content)
    with pytest.raises(exception.ConfigInvalid, match=expected):
        auth.load_htpasswd(str(path))


def test_missing_file_and_unknown_reader_stop_start_up(config, tmp_path, user_file):
    config(api__auth_strategy="http_basic",
           api__http_basic_auth_user_file=str(tmp_path / "absent"))
    with pytest.raises(exception.ConfigInvalid, match="cannot read .*absent"):
        auth.wrap(_downstream(), hw_conf.CONF)
    config(api__http_basic_auth_user_file=str(user_file), api__reader_users=["ghost"])
    with pytest.raises(exception.ConfigInvalid) as info:
        auth.wrap(_downstream(), hw_conf.CONF)
    assert "reader_users names ghost" in str(info.value)
    assert info.value.option == "[api] reader_users"


def test_unknown_strategy_is_refused_by_config(config):
    with pytest.raises(ValueError):
        config(api__auth_strategy="keystone")


def test_server_refuses_to_start_on_a_bad_user_file(tmp_path):
    """hwdrivers-server exits 1 with one line naming the file and line."""
    import subprocess

    from tests.functional.server_proc import SERVER, ServerProcess

    path = tmp_path / "htpasswd"
    path.write_text("ok:%s\nold:$apr1$abcdefgh$0123456789abcdefghijkl\n" % _hash("x"))
    proc = ServerProcess(tmp_path, {"api": {"auth_strategy": "http_basic",
                                            "http_basic_auth_user_file": str(path)}})
    result = subprocess.run([SERVER, "--config-file", str(proc.config_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "serving" not in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("hwdrivers-server: error: ")
    assert "%s line 2" % path in last and "MD5-crypt" in last and "htpasswd -B" in last
    assert "$apr1$" not in result.stderr


def test_ironic_client_with_http_basic(tmp_path):
    """The unmodified ``baremetal`` CLI authenticates with OS_AUTH_TYPE=http_basic."""
    import subprocess
    import sys

    from tests.functional.server_proc import ServerProcess

    path = tmp_path / "htpasswd"
    path.write_text("ops:%s\nwatch:%s\n" % (_hash("ops-pw", b"$2y$"), _hash("watch-pw")))
    server = ServerProcess(tmp_path, {"api": {
        "auth_strategy": "http_basic", "http_basic_auth_user_file": str(path),
        "reader_users": "watch"}}).start()
    baremetal = os.path.join(os.path.dirname(sys.executable), "baremetal")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(HOME=str(tmp_path), OS_AUTH_TYPE="http_basic", OS_ENDPOINT=server.url)

    def bm(user, password, *args):
        run_env = dict(env, OS_USERNAME=user, OS_PASSWORD=password)
        return subprocess.run([baremetal] + list(args), env=run_env, capture_output=True,
                              text=True, timeout=120)

    try:
        result = bm("ops", "ops-pw", "node", "create", "--driver", "fake-hardware",
                    "--name", "ic1", "-f", "json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["name"] == "ic1"
        result = bm("watch", "watch-pw", "node", "list", "-f", "json")
        assert result.returncode == 0, result.stderr
        assert [n["name"] for n in json.loads(result.stdout)] == ["ic1"]
        result = bm("watch", "watch-pw", "node", "power", "on", "ic1")
        assert result.returncode != 0
        assert "reader role" in result.stderr and "HTTP 403" in result.stderr
        result = bm("ops", "wrong", "node", "list")
        assert result.returncode != 0
        assert "Incorrect username or password. (HTTP 401)" in result.stderr
        assert "ops-pw" not in server.log() and "watch-pw" not in server.log()
    finally:
        assert server.stop() == 0


# -- passwords longer than bcrypt's 72 bytes -------------------------------------------

HTPASSWD = shutil.which("htpasswd")


@pytest.mark.skipif(HTPASSWD is None,
                    reason="htpasswd not installed (Debian apache2-utils; tools/test.sh "
                           "installs it)")
@pytest.mark.parametrize("password", [
    "L" * 72 + "-and-then-some-more-characters",  # ASCII, 102 bytes
    "é" * 50,                                      # 100 bytes, cut inside a character
])
def test_long_passwords_are_checked_as_htpasswd_stores_them(tmp_path, password):
    """The file comes from the real ``htpasswd -B``; its own -v check is the reference."""
    path = tmp_path / "htpasswd"
    subprocess.run([HTPASSWD, "-ciB", str(path), "ops"], input=password.encode(),
                   check=True, capture_output=True)
    c = Client(auth.BasicAuthMiddleware(_downstream(), str(path)))
    raw = password.encode()
    same_72 = raw[:72] + b"#different tail"
    other = raw[:71] + bytes([raw[71] ^ 1]) + raw[72:]  # differs inside the 72

    def htpasswd_accepts(candidate):
        return subprocess.run([HTPASSWD, "-viB", str(path), "ops"], input=candidate,
                              capture_output=True).returncode == 0

    def status(candidate):
        token = base64.b64encode(b"ops:" + candidate).decode()
        return c.get("/v1/nodes", headers={"Authorization": "Basic " + token}).status_code

    for candidate in (raw, same_72, other, raw[:71]):
        expected = 200 if htpasswd_accepts(candidate) else 401
        assert status(candidate) == expected, (len(candidate), expected)
    # What htpasswd does: the first 72 bytes decide.
    assert status(raw) == 200 and status(same_72) == 200
    assert status(other) == 401 and status(raw[:71]) == 401
    # A long password against an unknown user is a 401, not a 500.
    token = base64.b64encode(b"nobody:" + raw).decode()
    assert c.get("/v1/nodes", headers={"Authorization": "Basic " + token}).status_code == 401


# -- throttling of failed logins ---------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def throttled(user_file, monkeypatch):
    """A middleware with a fake clock and a count of the bcrypt checks it makes."""
    clock = FakeClock()
    throttle = auth.Throttle(free_attempts=5, base_delay=1.0, max_delay=60.0,
                             reset_after=900.0, clock=clock)
    middleware = auth.BasicAuthMiddleware(_downstream(), str(user_file),
                                          reader_users=["viewer"], throttle=throttle)
    checks = []
    real = bcrypt.checkpw
    monkeypatch.setattr(middleware._bcrypt, "checkpw",
                        lambda p, h: checks.append(p) or real(p, h))
    return Client(middleware), middleware, clock, checks


def _get(c, user, password, address="192.0.2.10"):
    return c.get("/v1/nodes", headers=basic(user, password),
                 environ_base={"REMOTE_ADDR": address})


def test_failed_logins_are_throttled_with_429_and_growing_delays(throttled, caplog):
    c, middleware, clock, checks = throttled
    statuses = []
    with caplog.at_level(logging.DEBUG):
        for attempt in range(200):
            response = _get(c, "admin", "guess-%d" % attempt)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert "WWW-Authenticate" not in response.headers
                assert "Too many failed logins" in fault(response)["faultstring"]
    # 5 free failures and the 6th that closes the window reach bcrypt; the rest
    # are answered 429 without a check.
    assert statuses[:6] == [401] * 6
    assert statuses[6:] == [429] * 194
    assert len(checks) == 6
    # One WARNING per throttled source (user and address), none per 429, and
    # never a password.
    throttled_lines = [r for r in caplog.records if "Throttling API logins" in r.message]
    assert len(throttled_lines) == 2
    assert {r.levelname for r in throttled_lines} == {"WARNING"}
    assert not any("guess-" in r.getMessage() for r in caplog.records)

    # The delay doubles with each further failure: 1 s, 2 s, 4 s ... up to 60 s.
    delays = []
    for _ in range(9):
        clock.now += 61
        assert _get(c, "admin", "wrong").status_code == 401
        delays.append(int(_get(c, "admin", "wrong").headers["Retry-After"]))
    assert delays == [2, 4, 8, 16, 32, 60, 60, 60, 60]


def test_the_real_user_gets_in_after_the_window_and_is_forgiven(throttled):
    c, middleware, clock, checks = throttled
    for attempt in range(7):
        _get(c, "admin", "guess-%d" % attempt)
    # Even the right password waits while the window is open (no bcrypt check).
    before = len(checks)
    response = _get(c, "admin", ADMIN_PW)
    assert response.status_code == 429 and len(checks) == before
    clock.now += int(response.headers["Retry-After"])
    assert _get(c, "admin", ADMIN_PW).status_code == 200
    # The success forgot the failures: five more mistakes are free again.
    assert [_get(c, "admin", "typo").status_code for _ in range(5)] == [401] * 5
    assert len(middleware.throttle) == 2  # user + address


def test_recently_verified_credentials_pass_while_their_user_is_throttled(throttled):
    c, _, clock, checks = throttled
    assert _get(c, "admin", ADMIN_PW, "192.0.2.1").status_code == 200
    for attempt in range(20):
        _get(c, "admin", "guess-%d" % attempt, "198.51.100.7")
    assert _get(c, "admin", "guess", "192.0.2.1").status_code == 429  # user throttled
    # The cached (already verified) credentials still work, from any address.
    assert _get(c, "admin", ADMIN_PW, "192.0.2.1").status_code == 200


def test_other_users_and_addresses_are_not_affected(throttled):
    c, _, clock, checks = throttled
    for attempt in range(50):
        _get(c, "admin", "guess-%d" % attempt, "198.51.100.7")
    assert _get(c, "admin", "x", "198.51.100.7").status_code == 429
    # The attacking address is throttled for every user name it tries ...
    assert _get(c, "viewer", READER_PW, "198.51.100.7").status_code == 429
    # ... and the attacked user from every address (until its window closes).
    assert _get(c, "admin", ADMIN_PW, "192.0.2.55").status_code == 429
    # Another user from another address is checked normally.
    assert _get(c, "viewer", READER_PW, "192.0.2.55").status_code == 200
    assert _get(c, "viewer", "wrong", "192.0.2.56").status_code == 401


def test_quiet_period_forgets_failures(throttled):
    c, middleware, clock, _ = throttled
    for attempt in range(5):
        assert _get(c, "admin", "guess-%d" % attempt).status_code == 401
    clock.now += 901
    # Five fresh free attempts: the old failures were forgotten.
    assert [_get(c, "admin", "again").status_code for _ in range(5)] == [401] * 5
    assert _get(c, "admin", "again").status_code == 401
    assert _get(c, "admin", "again").status_code == 429


def test_throttle_memory_is_bounded():
    clock = FakeClock()
    throttle = auth.Throttle(size=100, clock=clock)
    for i in range(10_000):
        throttle.failed("user-%d" % i, "10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255))
    assert len(throttle._tables["user"]) == 100
    assert len(throttle._tables["address"]) == 100
    assert len(throttle) == 200
    # The most recent sources are the ones kept.
    assert "user-9999" in throttle._tables["user"]
    assert "user-0" not in throttle._tables["user"]
    assert auth.THROTTLE_SIZE == auth.Throttle().size
    # Keys are cut: huge user names cannot make the bounded table large.
    throttle.failed("x" * 1_000_000, "10.0.0.1")
    assert max(len(key) for key in throttle._tables["user"]) == auth.KEY_CHARS


def test_throttle_options_reach_the_middleware(config, user_file):
    config(api__auth_strategy="http_basic",
           api__http_basic_auth_user_file=str(user_file),
           api__auth_failure_free_attempts=2, api__auth_failure_base_delay=3.0,
           api__auth_failure_max_delay=30.0, api__auth_failure_reset_after=120.0)
    throttle = auth.wrap(_downstream(), hw_conf.CONF).throttle
    assert (throttle.free_attempts, throttle.base_delay, throttle.max_delay,
            throttle.reset_after) == (2, 3.0, 30.0, 120.0)


def test_throttling_in_the_real_server(tmp_path):
    """hwdrivers-server: a brute force from one address is answered 429 at once,
    other clients (another loopback source address) are not held up, and the
    log has one throttling line per source and no password."""
    import http.client
    import time

    from tests.functional.server_proc import ServerProcess

    path = tmp_path / "htpasswd"
    path.write_text("ops:%s\nwatch:%s\n" % (_hash("ops-pw", b"$2y$"), _hash("watch-pw")))
    server = ServerProcess(tmp_path, {"api": {
        "auth_strategy": "http_basic", "http_basic_auth_user_file": str(path),
        "auth_failure_max_delay": 2}}).start()

    def get(user, password, source):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60,
                                          source_address=(source, 0))
        try:
            conn.request("GET", "/v1/nodes", headers=basic(user, password))
            response = conn.getresponse()
            response.read()
            return response.status, response.getheader("Retry-After")
        finally:
            conn.close()

    try:
        statuses = [get("ops", "guess-%d" % n, "127.0.0.1")[0] for n in range(200)]
        assert set(statuses) == {401, 429}
        # Five free failures, then at most a few more as 1 s and 2 s windows pass.
        assert statuses[:6] == [401] * 6
        assert statuses.count(401) <= 15 and statuses.count(429) >= 185
        # Another user from another address is served at once.
        assert get("watch", "watch-pw", "127.0.0.2")[0] == 200
        # The attacked user waits out the window (capped at 2 s), then gets in.
        status, retry_after = get("ops", "ops-pw", "127.0.0.2")
        if status == 429:
            time.sleep(int(retry_after))
            status, _ = get("ops", "ops-pw", "127.0.0.2")
        assert status == 200
        log = server.log()
        assert log.count("Throttling API logins of user 'ops'") == 1
        assert log.count("Throttling API logins of address '127.0.0.1'") == 1
        assert "guess-" not in log and "ops-pw" not in log
    finally:
        assert server.stop() == 0
