"""GET /boot/boot.ipxe: the same script for every machine, written only when it changes.

Rewritten on every request, a full disk under http_root (deploy ISOs) made
every machine's fetch a 500 although the file was there and right.
"""

import errno

from hwdrivers.drivers.modules import boot_files


def test_boot_ipxe_is_served_without_a_write_once_written(api, config, tmp_path,
                                                          monkeypatch):
    config(deploy__http_root=str(tmp_path / "hb"), deploy__http_url="http://10.0.0.1/boot")
    first = api.raw.get("/boot/boot.ipxe")
    assert first.status_code == 200
    assert b"chain --autofree http://10.0.0.1/boot/pxelinux.cfg/" in first.get_data()

    def disk_full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(boot_files, "write_file", disk_full)
    again = api.raw.get("/boot/boot.ipxe")
    assert again.status_code == 200
    assert again.get_data() == first.get_data()


def test_boot_ipxe_follows_a_changed_http_url(api, config, tmp_path):
    config(deploy__http_root=str(tmp_path / "hb"), deploy__http_url="http://10.0.0.1/boot")
    assert b"10.0.0.1" in api.raw.get("/boot/boot.ipxe").get_data()
    config(deploy__http_url="http://10.0.0.2/boot")
    body = api.raw.get("/boot/boot.ipxe").get_data()
    assert b"10.0.0.2/boot/pxelinux.cfg" in body and b"10.0.0.1" not in body
