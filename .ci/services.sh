#!/usr/bin/env bash
# Make sure the services the tests talk to are up: use the running ones, start a
# throwaway one from the installed binaries otherwise, or fail with the command
# that installs it. Tests never skip for a missing service.
set -uo pipefail

fail() { echo "services: $*" >&2; exit 1; }

wait_for() {  # name, probe command
  for _ in $(seq 1 30); do eval "$2" >/dev/null 2>&1 && return 0; sleep 1; done
  fail "$1 did not come up"
}

# PostgreSQL on 127.0.0.1:5432, trust auth, database `test`.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
    echo "services: starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start \
      || fail "PostgreSQL failed to start"
    wait_for PostgreSQL "pg_isready -q -h 127.0.0.1 -p 5432"
  else
    fail "PostgreSQL is not running and not installed: apt-get install -y postgresql"
  fi
fi
psql -h 127.0.0.1 -U postgres -d test -Atc "select 1" >/dev/null 2>&1 \
  || fail "cannot connect to PostgreSQL as postgres@127.0.0.1/test (trust auth expected)"

# Redis on 127.0.0.1:6379 (the Celery broker in the executor tests).
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    echo "services: starting a throwaway Redis" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp --logfile /tmp/mlmaint-redis.log || fail "Redis failed to start"
    wait_for Redis "redis-cli -h 127.0.0.1 -p 6379 ping"
  else
    fail "Redis is not running and not installed: apt-get install -y redis-server"
  fi
fi
echo "services: PostgreSQL and Redis are up" >&2
