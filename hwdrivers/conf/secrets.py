"""[secrets]: encryption at rest of driver_info secrets (hwdrivers.common.secrets)."""

from oslo_config import cfg

group = cfg.OptGroup("secrets", help="Encryption of driver_info secrets (BMC "
                                     "passwords...) in the database.")

opts = [
    cfg.StrOpt("key_file", default="$state_path/secrets.key",
               sample_default="$state_path/secrets.key",
               help="File of Fernet keys that encrypt every driver_info field "
                    "a driver declares secret, one key per line, the newest "
                    "first (it encrypts; all of them decrypt). Created with "
                    "mode 0600 the first time a secret is stored or the server "
                    "starts; hwdrivers refuses to run when group or others may "
                    "read it. Back it up apart from the database: without it "
                    "the stored secrets cannot be read. Rotate with "
                    "'hwdrivers-dbsync add-secrets-key' (copy the file to every "
                    "host), then 'hwdrivers-dbsync reencrypt-secrets'; old keys "
                    "may be removed once that has run."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
