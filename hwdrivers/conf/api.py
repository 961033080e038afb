"""[api]: the REST API server (Ironic v1-compatible subset)."""

from oslo_config import cfg

from hwdrivers.conf import finite

group = cfg.OptGroup("api", help="The REST API served by hwdrivers-server.")

opts = [
    cfg.HostAddressOpt("host", default="127.0.0.1",
                       help="Address the API listens on. With auth_strategy = "
                            "noauth only loopback addresses are accepted unless "
                            "allow_insecure_noauth_bind is set, because anyone "
                            "who can reach the port could power machines off."),
    cfg.PortOpt("port", default=6385,
                help="TCP port the API listens on (6385 is Ironic's)."),
    cfg.StrOpt("auth_strategy", default="noauth",
               choices=[("noauth", "no authentication: anyone who reaches the "
                                   "port is admin; loopback only by default"),
                        ("http_basic", "HTTP Basic against the bcrypt htpasswd "
                                       "file http_basic_auth_user_file")],
               help="How API requests are authenticated (hwdrivers.api.auth). "
                    "With http_basic, GET / and GET /v1 (version discovery) "
                    "stay public, as in Ironic; everything else, /metrics "
                    "included, needs credentials."),
    cfg.StrOpt("http_basic_auth_user_file", default="/etc/hwdrivers/htpasswd",
               help="Apache htpasswd file of API users for auth_strategy = "
                    "http_basic (Ironic's option name). Only bcrypt hashes "
                    "($2y$ from 'htpasswd -B', or $2b$) are accepted; any "
                    "other line stops the server at start-up naming the file "
                    "and line. Edits are picked up without a restart."),
    cfg.ListOpt("reader_users", default=[],
                help="Users of http_basic_auth_user_file with the reader "
                     "role: they may GET/HEAD everything (metrics included) "
                     "and get HTTP 403 for any change. Users not listed are "
                     "admins. Each name must be in the file."),
    finite.FloatOpt("http_basic_cache_ttl", default=60.0, min=0,
                    help="Seconds a successful bcrypt check of a user and "
                         "password is remembered in memory (bounded LRU of "
                         "1024 entries, keyed by a keyed hash, never the "
                         "password), so a busy client does not pay bcrypt on "
                         "every request. 0 disables the cache."),
    cfg.IntOpt("auth_failure_free_attempts", default=5, min=1,
               help="Wrong http_basic passwords a user name, and a client "
                    "address, may send before it is throttled: each further "
                    "failure makes that source wait (HTTP 429 with "
                    "Retry-After, no password check) for a delay doubling "
                    "from auth_failure_base_delay up to auth_failure_max_delay. "
                    "Behind a reverse proxy every client shares the proxy's "
                    "address, so one client's failures throttle the others."),
    finite.FloatOpt("auth_failure_base_delay", default=1.0, min=0.01,
                    help="Seconds a source is throttled after its first failure "
                         "beyond auth_failure_free_attempts; doubles with each "
                         "further failure."),
    finite.FloatOpt("auth_failure_max_delay", default=60.0, min=0.01,
                    help="Longest throttling delay, in seconds: a real user is "
                         "never locked out for longer than this after an attack "
                         "stops (and not at all with credentials verified within "
                         "http_basic_cache_ttl)."),
    finite.FloatOpt("auth_failure_reset_after", default=900.0, min=1,
                    help="Seconds without a failure after which a source's "
                         "failures are forgotten. A successful login forgets "
                         "them at once."),
    cfg.BoolOpt("allow_insecure_noauth_bind", default=False,
                help="Allow auth_strategy = noauth on a non-loopback host. "
                     "Only for isolated networks: every client gets full "
                     "control of every machine."),
    cfg.IntOpt("max_request_body_size", default=1024 * 1024, min=1,
               help="Largest request body accepted, in bytes; larger bodies "
                    "are refused with HTTP 413 before being read."),
    cfg.IntOpt("max_inspection_body_size", default=8 * 1024 * 1024, min=1,
               help="Largest body of a ramdisk's inspection data (POST "
                    "/v1/continue_inspection), in bytes, in place of "
                    "max_request_body_size: ironic-python-agent's extra-hardware "
                    "and logs collectors send several megabytes from a large "
                    "server. Larger bodies are refused with HTTP 413 and the "
                    "node's inspection times out."),
    cfg.IntOpt("max_limit", default=1000, min=1,
               help="Largest page size a list request may ask for with "
                    "'limit'; also the page size when it asks for none."),
    cfg.StrOpt("http_server", default="granian",
               choices=[("granian", "granian's Rust HTTP/1.1 worker, run on "
                         "threads of the server process: more requests/s "
                         "than waitress at a lower p99 (doc/performance.md "
                         "section 4)"),
                        ("waitress", "waitress, pure Python: the fallback if "
                         "granian misbehaves on a platform")],
               help="HTTP server the API is served by. Both serve the same "
                    "app with the same options; hwdrivers-server and "
                    "hwdrivers-api use it (the PDUDaemon and JSON-RPC "
                    "listeners always use waitress)."),
    cfg.IntOpt("threads", default=8, min=1,
               help="Threads the API runs requests on. Long operations "
                    "run in conductor workers, so requests stay short, and "
                    "more threads than that only contend for the interpreter: "
                    "with 50 clients, 8 threads answered 1.3-1.6x the power "
                    "requests/s of 16 (doc/performance.md). Keep it above "
                    "hardware_wait_slots."),
    cfg.StrOpt("unknown_driver_info", default="refuse",
               choices=[("refuse", "a driver_info key that no interface of the "
                                   "node declares is refused (HTTP 400) with the "
                                   "valid keys and a did-you-mean"),
                        ("warn", "such a key is stored and a warning naming it "
                                 "is logged: for nodes moved from Ironic with "
                                 "fields hwdrivers does not read")],
               help="What node create and update (API and local CLI) do with "
                    "driver_info keys no interface of the node declares. Keys "
                    "that look like a misspelt declared field (ipmi_pasword) "
                    "are refused either way: a misspelt secret would be "
                    "stored and shown unmasked."),
    finite.FloatOpt("node_locked_wait", default=5.0, min=0, max=60,
                    help="Seconds an API request on a node locked by a short "
                         "operation (a power change, an update) waits for the "
                         "lock before answering HTTP 409 with a Retry-After "
                         "header. A node locked by a long one (provisioning, "
                         "cleaning) is answered at once. Each attempt is one "
                         "short statement: no database connection is held while "
                         "waiting. Non-API callers use [conductor] "
                         "node_locked_retry_timeout."),
    cfg.IntOpt("hardware_wait_slots", default=4, min=1,
               help="API requests that may wait on hardware at once (boot "
                    "device, NMI, synchronous vendor methods: Ironic's "
                    "synchronous calls). They run in conductor workers while "
                    "the request waits; one more is answered HTTP 503 with "
                    "Retry-After at once, so hung controllers can never take "
                    "every API thread. Keep it below [api] threads."),
    finite.FloatOpt("hardware_call_timeout", default=120.0, min=1,
                    help="Seconds an API request waits for a synchronous hardware "
                         "call before answering HTTP 504; the call goes on in its "
                         "worker within its driver's deadline and records its "
                         "outcome in last_error."),
    cfg.StrOpt("public_endpoint",
               help="Base URL put in the links of responses (e.g. when behind "
                    "a proxy). Unset: the URL the request came in on."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
