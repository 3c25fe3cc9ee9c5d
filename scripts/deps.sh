#!/usr/bin/env bash
# Installs the Debian 12 packages gameday needs to build, test, demo and
# benchmark. Safe to run again: only what is missing is installed.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libuv1-dev libcurl4-openssl-dev
      libssl-dev libcjson-dev libcunit1-dev libpq-dev libxml2-dev curl
      # the local staging stack (scenarios/local/stack), and the postgres
      # tests, which start throwaway servers from postgresql-15's binaries
      postgresql-15 postgresql-client-15 haproxy supervisor etcd-server
      patroni python3-etcd)
if [ "${1:-}" = "--bench" ]; then pkgs+=(nginx-light wrk jq time procps); fi
# The stack's queue tier (fauxqs and its workers, scenarios/local/stack/queue)
# runs on Node. Checked by command, not by package: a Node 20 from another
# source (NodeSource's nodejs bundles npm and conflicts with Debian's npm)
# is what fauxqs wants, and must not be replaced by Debian's Node 18.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "gameday: missing packages: ${missing[*]}" >&2
  echo "gameday: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
