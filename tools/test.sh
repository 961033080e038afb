#!/usr/bin/env bash
# Install everything the tests need and run them. The README's second command;
# .ci/run calls it. Safe to re-run: each step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests drive for real: ipmitool (IPMI driver), sshd and ssh
# (command driver), qemu-img and sgdisk (hwdrivers-agent). Installed only when
# missing; needs root or sudo.
need=()
command -v ipmitool >/dev/null 2>&1 || need+=(ipmitool)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)   # agent: qcow2 images
command -v sgdisk >/dev/null 2>&1 || [ -x /usr/sbin/sgdisk ] || need+=(gdisk)  # agent: config drive
[ -f /usr/lib/ISOLINUX/isolinux.bin ] || need+=(isolinux)   # redfish-virtual-media: boot ISO
[ -f /usr/lib/syslinux/modules/bios/ldlinux.c32 ] || need+=(syslinux-common)
command -v mcopy >/dev/null 2>&1 || need+=(mtools)        # redfish-virtual-media: UEFI ISO
command -v mkfs.fat >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.fat ] || need+=(dosfstools)  # test ESPs
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)  # API auth tests: real htpasswd -B files
command -v ipmi_sim >/dev/null 2>&1 || need+=(openipmi)   # consoles: a BMC with serial over LAN
command -v socat >/dev/null 2>&1 || need+=(socat)         # consoles: a command profile's console
# PDUDaemon listener tests: the real pduclient, both modes (-H needs requests)
command -v pduclient >/dev/null 2>&1 || need+=(pdudaemon-client python3-requests)
if [ ${#need[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    echo "Installing ${need[*]} (Debian packages)"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel
.venv/bin/python -m pip install -q -e '.[test]'

# Most tests wait on processes and peers rather than compute: three workers
# (one file each at a time, so a module's emulator or cluster is started
# once) keep the suite well under 15 minutes on 2 cores. HWDRIVERS_TEST_WORKERS=0
# runs everything in this process, in order.
exec .venv/bin/python -m pytest -n "${HWDRIVERS_TEST_WORKERS:-3}" --dist loadfile "$@"
