#!/usr/bin/env bash
# An aarch64 CPython 3.11 that runs on this x86_64 machine under user-mode
# emulation, set up from Debian's package registry alone:
#
#   bash scripts/arm64_emulator.sh [DIR]      # default: target/arm64-emulator
#
# Nothing is installed and the host's apt configuration is not touched: apt runs
# with a private state (its own sources list, with APT::Architectures=amd64,arm64,
# its own lists and cache, an empty dpkg status), `apt-get download` fetches the
# packages and `dpkg-deb -x` unpacks them. No binfmt handler is registered: the
# emulator is called by name. Leaves in DIR:
#
#   qemu/     qemu-user-static, unpacked (qemu-aarch64-static runs one aarch64 program)
#   root/     python3.11 and every arm64 library it needs (its Depends, recursively)
#   python    a wrapper that runs root/usr/bin/python3.11 under qemu-aarch64-static,
#             with QEMU_LD_PREFIX=root (where the emulated loader finds its libraries)
#
# Idempotent: a finished setup (DIR/python, which is written last) is reused.
# The emulated interpreter cannot start other programs by itself (without binfmt,
# an exec of an aarch64 binary fails), so what runs under it must not spawn Python.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
DIR="$(mkdir -p "${1:-$REPO/target/arm64-emulator}" && cd "${1:-$REPO/target/arm64-emulator}" && pwd -P)"

if [[ -x "$DIR/python" ]] && "$DIR/python" -c 'import platform; assert platform.machine() == "aarch64"' 2>/dev/null; then
    echo "aarch64 CPython under emulation: $DIR/python (already set up)"
    exit 0
fi

# The host's Debian release, from the package registry it already uses.
# shellcheck disable=SC1091
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
if [[ -z "$codename" ]] || ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    echo "needs a Debian-based host (apt-get, dpkg-deb, VERSION_CODENAME in /etc/os-release)" >&2
    exit 1
fi

APT_DIR="$DIR/apt"
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$DIR/debs"
echo "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $codename main" \
    >"$APT_DIR/sources.list"
: >"$APT_DIR/status"
apt_options=(
    -q
    -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::State::status=$APT_DIR/status"
    -o "Dir::Cache=$APT_DIR/cache"
    -o "APT::Architectures=amd64,arm64"
    # A private state needs no lock on the host's; downloads into a directory
    # the unprivileged `_apt` user cannot write run as the caller.
    -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=$(id -un)"
)
echo "--- apt-get update (private state in $APT_DIR)"
apt-get "${apt_options[@]}" update >/dev/null

# python3.11 and the arm64 libraries it and its standard library load (recursive
# Depends), less the programs a package manager would run to install them.
packages=(python3.11-minimal:arm64 libpython3.11-stdlib:arm64 libstdc++6:arm64)
mapfile -t arm64 < <(
    apt-cache "${apt_options[@]}" depends --recurse --no-recommends --no-suggests \
        --no-conflicts --no-breaks --no-replaces --no-enhances "${packages[@]}" |
        grep -E '^[a-z0-9.+-]+:arm64$' | grep -v -E '^(dpkg|tar|install-info):' | sort -u
)
echo "--- apt-get download: qemu-user-static and ${#arm64[@]} arm64 packages"
(cd "$DIR/debs" && apt-get "${apt_options[@]}" download qemu-user-static:amd64 "${arm64[@]}" >/dev/null)

echo "--- dpkg-deb -x (no installation)"
rm -rf "$DIR/root" "$DIR/qemu"
mkdir -p "$DIR/root" "$DIR/qemu"
dpkg-deb -x "$DIR"/debs/qemu-user-static_*_amd64.deb "$DIR/qemu"
# One emulator is needed of the package's forty (half a gigabyte in all).
find "$DIR/qemu" -type f -name 'qemu-*' ! -name qemu-aarch64-static -delete
for deb in "$DIR"/debs/*_arm64.deb; do
    dpkg-deb -x "$deb" "$DIR/root"
done

cat >"$DIR/python.tmp" <<EOF
#!/bin/sh
# aarch64 CPython 3.11 under user-mode emulation (scripts/arm64_emulator.sh).
export QEMU_LD_PREFIX="$DIR/root"
exec "$DIR/qemu/usr/bin/qemu-aarch64-static" "$DIR/root/usr/bin/python3.11" "\$@"
EOF
chmod +x "$DIR/python.tmp"
"$DIR/python.tmp" -c 'import platform, ctypes, sqlite3, ssl; print("emulated:", platform.machine(), platform.python_version())'
mv "$DIR/python.tmp" "$DIR/python"
echo "aarch64 CPython under emulation: $DIR/python"
