#!/bin/sh
# What `npm test` needs beyond `npm ci`, installed from Debian's packages only when missing:
#   redis-server  the integration tests start their own on free loopback ports
#   nginx         the proxy tests run Debian's nginx in front of a real gateway (http_v2, ssl built in)
#   chromium      playwright-core drives Debian's browser; a downloaded browser build is never used
#   openssl       the nginx tests make a throwaway self-signed certificate
# Quiet when everything is present. As root it installs; otherwise it says what to install and fails.
set -eu

missing=""
need() { # need <command> <package>
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$1" ] && [ ! -x "/usr/bin/$1" ]; then
    missing="$missing $2"
  fi
}
need redis-server redis-server
need nginx nginx
need chromium chromium
need openssl openssl

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "test-deps: missing:$missing" >&2
  echo "test-deps: install them with: sudo apt-get install -y$missing" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Tests start their own servers on free ports, so the packages' own services are not wanted: a
# policy-rc.d that answers 101 keeps postinst from starting them (nginx's would fail outright
# if port 80 were taken). An existing policy-rc.d is left as it is.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT INT TERM
fi

echo "test-deps: installing:$missing" >&2
# Other apt runs on the same machine are waited for rather than failed on.
apt_get() { apt-get -q -o DPkg::Lock::Timeout=600 "$@"; }
apt_get update >/dev/null
# shellcheck disable=SC2086 # the package list is meant to split
apt_get install -y --no-install-recommends $missing >/dev/null
echo "test-deps: installed:$missing" >&2
