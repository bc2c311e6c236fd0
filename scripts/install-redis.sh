#!/bin/sh
# Installs Debian's redis-server for the distributed-mode tests (run by scripts/ensure-redis.mjs as
# root, under a flock so that two test runs take turns). Prints "present" when another run got it first.
set -u
export DEBIAN_FRONTEND=noninteractive
command -v redis-server >/dev/null 2>&1 && { echo present; exit 0; }

# DPkg::Lock::Timeout: wait for another apt-get or unattended-upgrades instead of failing at once.
install() { apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 redis-server >/dev/null; }

# apt-get update does not wait for the lists lock: try again every 5 s for up to 10 minutes.
update() {
  tries=0
  while ! out=$(apt-get update -qq -o DPkg::Lock::Timeout=600 2>&1); do
    case $out in
      *"Could not get lock"*|*"Unable to lock"*)
        tries=$((tries + 1))
        [ "$tries" -lt 120 ] || { echo "$out" >&2; return 1; }
        sleep 5 ;;
      *) echo "$out" >&2; return 1 ;;
    esac
  done
}

# The package lists may be missing (a fresh container) or stale: update once, then install again.
install 2>/dev/null || { update && install; }
