"""Self-signed certificates for 127.0.0.1, for test peers that speak TLS.

A BMC emulator (a CA certificate, as the tests trust it by file) and an
agent (shaped as ironic-python-agent's auto-TLS makes its own: P-384,
SHA-512, no basic constraints, a critical subjectAltName) differ only in
these choices; the writing is the same.
"""

import datetime
import ipaddress
import os


def write_self_signed(directory, stem, common_name, curve="SECP256R1", digest="SHA256",
                      ca=True, critical_san=False, days=1):
    """Write ``<stem>.crt`` and ``<stem>.key`` (PEM, PKCS8) in ``directory``;
    returns (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(getattr(ec, curve)())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.SubjectAlternativeName(
                   [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                   critical=critical_san))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                        critical=True)
    cert = builder.sign(key, getattr(hashes, digest)())
    cert_path = os.path.join(str(directory), "%s.crt" % stem)
    key_path = os.path.join(str(directory), "%s.key" % stem)
    with open(cert_path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return cert_path, key_path
