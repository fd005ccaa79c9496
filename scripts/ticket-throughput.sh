#!/bin/sh
# ticket-throughput.sh: upload tickets per second at 64 concurrent clients (bench/ticketbench)
# for three metadata setups measured in one run, their rounds interleaved so that the machine's
# slow and fast spells fall on all three alike:
#   sqlite  one `presign control` on a SQLite file
#   pg1     one `presign control` on PostgreSQL
#   pg2     two `presign control` replicas on the same PostgreSQL schema, the clients alternating
# All three sign for one `presign storage` node and run with --ticket-rate 0. PostgreSQL is the
# machine's (127.0.0.1:5432, database test, trust auth); each run uses a fresh schema, dropped
# at the end. It prints every round and then the medians.
#
#   scripts/ticket-throughput.sh                       # 3 rounds of 10 s each
#   ROUNDS=5 DURATION=5s scripts/ticket-throughput.sh
#   PG_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' scripts/ticket-throughput.sh
set -eu
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/presign-tickets.XXXXXX)
schema="tickets_$(date +%s)_$$"
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	psql -q -h 127.0.0.1 -U postgres test -c "drop schema if exists $schema cascade" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o "$work/presign" ./cmd/presign
go build -o "$work/ticketbench" ./bench/ticketbench
psql -q -h 127.0.0.1 -U postgres test -c "create schema $schema" >/dev/null

export PRESIGN_ADMIN_PASSWORD=ticket-throughput-admin
export PRESIGN_ACCESS_KEY=TICKETBENCHKEY PRESIGN_SECRET_KEY=ticket-bench-secret-key
case "$PG_URL" in *\?*) pg="$PG_URL&search_path=$schema" ;; *) pg="$PG_URL?search_path=$schema" ;; esac

start() { # name, then the command's arguments; waits for its listener
	log="$work/$1.log"
	shift
	"$@" >/dev/null 2>"$log" &
	pids="$pids $!"
	for _ in $(seq 200); do grep -q 'listening' "$log" && return 0; sleep 0.1; done
	echo "did not start: $*" >&2
	cat "$log" >&2
	exit 1
}
start storage "$work/presign" storage --data "$work/storage" --addr 127.0.0.1:19300
control() { # name, address, database
	start "$1" "$work/presign" control --addr "$2" --db "$3" --data "$work/$1" --ticket-rate 0 \
		--s3-endpoint http://127.0.0.1:19300 --s3-bucket tickets
}
control sqlite 127.0.0.1:19301 "$work/control.db"
control pg-a 127.0.0.1:19302 "$pg"
control pg-b 127.0.0.1:19303 "$pg"
for port in 19301 19302 19303; do
	for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done

bench() { # setup, URLs
	line=$("$work/ticketbench" -url "$2" -rounds 1 -duration "$DURATION" | grep '^round 1:')
	echo "  $1: ${line#round 1: }"
	echo "$line" | awk -v s="$1" '{ print s, $5, $8, $11 }' >>"$work/results.txt"
}
for r in $(seq "$ROUNDS"); do
	echo "round $r"
	bench sqlite http://127.0.0.1:19301
	bench pg1 http://127.0.0.1:19302
	bench pg2 http://127.0.0.1:19302,http://127.0.0.1:19303
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "medians of $ROUNDS rounds of $DURATION, 64 clients:"
for s in sqlite pg1 pg2; do
	col() { awk -v s="$s" -v c="$1" '$1 == s { print $c }' "$work/results.txt" | median; }
	echo "  $s: $(col 2) tickets/s, p50 $(col 3) ms, p99 $(col 4) ms"
done
