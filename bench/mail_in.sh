#!/bin/sh
# Mail in, release build, on SQLite and PostgreSQL: the intake in process,
# `officecomms mail-in` 8 processes at a time, and the IMAP reader over a
# 10,000-message mailbox of a throw-away Dovecot on loopback.
#   bench/mail_in.sh [postgres://postgres@127.0.0.1:5432/postgres]
# Needs dovecot-imapd (/usr/sbin/dovecot) and, for PostgreSQL, psql.
set -eu
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
[ -n "${NO_BUILD:-}" ] || cargo build --release --bin officecomms --example mail_in
PG_ADMIN=${1:-postgres://postgres@127.0.0.1:5432/postgres}
MESSAGES=${MESSAGES:-2000} PIPE=${PIPE:-400} CONCURRENCY=${CONCURRENCY:-8} IMAP_MESSAGES=${IMAP_MESSAGES:-10000}

dovecot_start() { # $1: dir, $2: port
  mkdir -p "$1/mail" && chmod 755 "$1" && chmod 777 "$1/mail"
  cat > "$1/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $1/run
state_dir = $1/state
log_path = $1/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
mail_location = maildir:$1/mail/%u
mail_uid = 65534
mail_gid = 65534
first_valid_uid = 1
passdb {
  driver = static
  args = password=secret
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$1/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $2
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
  /usr/sbin/dovecot -c "$1/dovecot.conf"
  sleep 1
}

run() { # $1: label, $2...: extra args
  label=$1; shift
  dir=$(mktemp -d); port=$((20000 + $$ % 20000))
  dovecot_start "$dir" "$port"
  echo "== $label"
  "$TARGET/release/examples/mail_in" --messages "$MESSAGES" --pipe "$PIPE" \
    --concurrency "$CONCURRENCY" --imap-messages "$IMAP_MESSAGES" \
    --imap-url "imap://help%40officecomms.test:secret@127.0.0.1:$port/INBOX?tls=none" "$@" || true
  /usr/sbin/dovecot -c "$dir/dovecot.conf" stop || true
  rm -rf "$dir"
}

OFFICECOMMS_BIN="$TARGET/release/officecomms" run sqlite
db="bench_mail_in_$$"
psql "$PG_ADMIN" -qc "CREATE DATABASE $db"
OFFICECOMMS_BIN="$TARGET/release/officecomms" run postgres --database-url "${PG_ADMIN%/*}/$db"
psql "$PG_ADMIN" -qc "DROP DATABASE $db WITH (FORCE)"
