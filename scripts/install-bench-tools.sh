#!/usr/bin/env bash
# Installs the tools the benchmark suite (scripts/bench/run.js) drives: wrk, h2load (Debian's
# nghttp2-client, for the HTTP/2 scenarios), nginx (+ its stream module for the L4 peer), haproxy,
# curl and taskset. Idempotent: a tool already present is left
# alone, and apt-get runs only when something is missing (update once, then install).
#
# The packages' own services are never started: Debian's policy-rc.d convention (exit 101) keeps
# the maintainer scripts from launching nginx/haproxy on their default ports. If the machine has no
# policy-rc.d we place a temporary one for the duration of the install and remove it afterwards.
# The benchmark runs every tool as the current user with its own temporary config, pid and log
# files; nothing under /etc is edited.
set -euo pipefail

NGINX_STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
# nginx on Debian 12 ships its stream (L4 proxy) module as a separate dynamic module package.
[ -f "$NGINX_STREAM_MODULE" ] || missing+=(libnginx-mod-stream)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-bench-tools: all tools present (wrk h2load nginx haproxy curl taskset)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-bench-tools: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-bench-tools: missing ${missing[*]}; run this script as root (or with sudo)" >&2
    exit 1
  fi
fi

POLICY=/usr/sbin/policy-rc.d
placed_policy=0
cleanup() {
  if [ "$placed_policy" -eq 1 ]; then $SUDO rm -f "$POLICY"; fi
}
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# temporary, placed by mosnd scripts/install-bench-tools.sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  placed_policy=1
fi

echo "install-bench-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# nginx-light was a smaller build on older Debian releases; on Debian 12 it pulls extra modules,
# so plain nginx (core http modules) is preferred and nginx-light is the fallback name.
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  fallback=("${missing[@]/#nginx/nginx-light}")
  $SUDO apt-get install -y -qq --no-install-recommends "${fallback[@]}"
fi
echo "install-bench-tools: done"
