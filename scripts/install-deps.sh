#!/usr/bin/env bash
# Installs the Debian 12 packages Vigil needs to build, test and run. Only missing packages
# are installed; safe to run repeatedly. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git clang lld libclang-rt-14-dev python3
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libssl-dev zlib1g-dev libre2-dev libc-ares-dev libhyperscan-dev
  libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev
  libcpp-httplib-dev libarchive-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libbpf-dev bpftool
  libnats-dev nats-server librdkafka-dev
  libsqlite3-dev libpqxx-dev postgresql libsodium-dev
  openssl curl procps iproute2 util-linux
)
# The web console's build (nodejs, npm) and its browser tests (chromium). A nodejs that bundles
# npm (NodeSource) is kept: Debian's npm is only added when there is no npm at all.
PACKAGES+=(nodejs chromium fonts-dejavu-core)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
