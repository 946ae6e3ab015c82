#!/usr/bin/env bash
# Installs what Barge's build and tests need on Debian 12, skipping what is already there.
# Safe to run again. Uses sudo when not root.
set -euo pipefail

# Debian packages: build tools, protoc and the well-known .proto files (libprotobuf-dev), which
# etcd-client's and k8s-cri's build scripts need; the real etcd the store tests and benchmark
# compare against; the node agent's runtime: containerd,
# runc, the CNI plugins, nftables/iptables (portmap), conntrack; busybox-static for the test
# image; iproute2 and procps for the tests' clean-up.
# python3-venv: the official Python client's tests run in a virtualenv under target/.
PACKAGES=(build-essential pkg-config protobuf-compiler libprotobuf-dev etcd-server python3 python3-venv tzdata
    containerd runc containernetworking-plugins nftables iptables conntrack busybox-static
    iproute2 procps)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    # Keep package installs from starting system services (etcd-server would start one):
    # Barge's tests start their own, on random ports, and stop them.
    policy_added=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
    if [ -n "$policy_added" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi

if ! command -v cargo >/dev/null; then
    echo "error: no Rust toolchain; install one with rustup (https://rustup.rs), then run this again" >&2
    exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest"
    cargo install cargo-nextest --locked
fi

# The official Python client, for the API compatibility tests, in a virtualenv that the tests
# find at target/python.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/target/python"
if ! "$VENV/bin/python3" -c "import kubernetes" >/dev/null 2>&1; then
    echo "installing the Python kubernetes client into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q kubernetes
fi
