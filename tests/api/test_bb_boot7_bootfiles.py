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


def test_deleting_a_node_removes_its_boot_files(api, config, tmp_path, make_node):
    """Deleted mid-deploy (in maintenance), its script went on booting the machine
    into the deleted node's ramdisk, and its deploy ISO stayed for good."""
    from hwdrivers.drivers.modules import ipxe

    root = tmp_path / "hb"
    config(deploy__http_root=str(root), deploy__http_url="http://10.0.0.1/boot")
    node, other = make_node("del1"), make_node("del2")
    scripts = root / "pxelinux.cfg"
    scripts.mkdir(parents=True)
    (root / node["uuid"]).mkdir()
    (root / node["uuid"] / "deploy.iso").write_bytes(b"\0" * 4096)
    (root / node["uuid"] / ipxe.MACS_FILE).write_text("52-54-00-00-00-01\n52-54-00-00-00-02\n")
    for mac, owner in (("52-54-00-00-00-01", node), ("52-54-00-00-00-02", other)):
        (scripts / mac).write_text(ipxe.NODE_SCRIPT.format(
            uuid=owner["uuid"], kernel="k", ramdisk="r", params=""))
    assert api.delete("/v1/nodes/del1").status_code == 204
    assert not (root / node["uuid"]).exists()
    assert sorted(p.name for p in scripts.iterdir()) == ["52-54-00-00-00-02"]  # del2's
