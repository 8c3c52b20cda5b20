#!/usr/bin/env bash
# Makes sure the system binaries the test suite needs are installed:
#   /usr/bin/chromium  (Debian package "chromium")      - browser e2e tests (playwright-core)
#   redis-server       (Debian package "redis-server")  - Redis engine tests
#   redis-cli          (Debian package "redis-tools")   - creates the Redis Cluster of the cluster tests and bench
#                                                         (a dependency of redis-server, checked on its own anyway)
# Idempotent: when everything is present it prints one line and makes no apt calls.
# It never starts a service. Run by `npm test` through the `pretest` script, and with the argument `redis`
# (redis-server only) before the benchmarks.
set -euo pipefail

wanted="${1:-all}"
missing=()

# The browser tests honour CHROMIUM_PATH; only the Debian package is installed here.
if [[ "$wanted" == all && ! -x /usr/bin/chromium ]]; then
  missing+=(chromium)
fi
if ! command -v redis-server >/dev/null 2>&1 && [[ ! -x /usr/bin/redis-server ]]; then
  missing+=(redis-server)
fi
if ! command -v redis-cli >/dev/null 2>&1 && [[ ! -x /usr/bin/redis-cli ]]; then
  missing+=(redis-tools)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  [[ "$wanted" == all ]] && echo "ensure-system-deps: chromium, redis-server and redis-cli present" \
    || echo "ensure-system-deps: redis-server and redis-cli present"
  exit 0
fi

pkgs="${missing[*]}"
manual="sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${pkgs}"
echo "ensure-system-deps: missing Debian package(s): ${pkgs}" >&2

fail() {
  echo "ensure-system-deps: $1" >&2
  echo "ensure-system-deps: install them with:" >&2
  echo "  ${manual}" >&2
  exit 1
}

if ! command -v apt-get >/dev/null 2>&1; then
  fail "apt-get not found (not a Debian/Ubuntu system?); install ${pkgs} with your package manager."
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  fail "not root and passwordless sudo is not available."
fi

echo "ensure-system-deps: installing ${pkgs}..." >&2
# `${as_root[@]+...}` keeps `set -u` happy with an empty array on older bash.
if ! ${as_root[@]+"${as_root[@]}"} apt-get update; then
  fail "apt-get update failed."
fi
# shellcheck disable=SC2086 # pkgs is a space-separated list of package names
if ! ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends ${pkgs}; then
  fail "apt-get install failed."
fi

# Check again: the package must actually have provided the binaries.
[[ -x /usr/bin/chromium ]] || fail "/usr/bin/chromium is still missing after the install."
command -v redis-server >/dev/null 2>&1 || [[ -x /usr/bin/redis-server ]] \
  || fail "redis-server is still missing after the install."
command -v redis-cli >/dev/null 2>&1 || [[ -x /usr/bin/redis-cli ]] \
  || fail "redis-cli is still missing after the install."
echo "ensure-system-deps: installed ${pkgs}"
