# Sourced by .ci/run: a PostgreSQL for the tests. The one named by
# PROVISIO_TEST_POSTGRES, or the one on 127.0.0.1:5432, when it answers;
# otherwise Debian's postgresql, installed if missing, in a throwaway cluster
# on a free port that is stopped and removed when the run ends.

pg_answers() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if [ -n "${PROVISIO_TEST_POSTGRES:-}" ]; then
  echo "PostgreSQL: PROVISIO_TEST_POSTGRES"
elif pg_answers 127.0.0.1 "${CI_POSTGRES_PORT:-5432}"; then
  echo "PostgreSQL: the one on 127.0.0.1:${CI_POSTGRES_PORT:-5432}"
  export PROVISIO_TEST_POSTGRES="postgres://postgres@127.0.0.1:${CI_POSTGRES_PORT:-5432}/postgres"
else
  if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    echo "PostgreSQL: none answers; installing Debian's postgresql"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  pg_dir="$(mktemp -d)"
  pg_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  # initdb refuses to run as root: the cluster belongs to the postgres user.
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$pg_dir"
    pg_as() { runuser -u postgres -- "$@"; }
  else
    pg_as() { "$@"; }
  fi
  pg_as "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
  # Throwaway: no fsync; enough connections for the tests' pools.
  pg_as "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w start -o \
    "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" >/dev/null
  stop_postgres() {
    pg_as "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  }
  trap stop_postgres EXIT
  echo "PostgreSQL: a throwaway cluster on 127.0.0.1:$pg_port ($("$pg_bin/postgres" --version))"
  export PROVISIO_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pg_port/postgres"
fi
