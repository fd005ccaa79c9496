#!/bin/sh
# client-throughput.sh: how fast "presign upload" moves a big file through "presign serve",
# as a ratio of the storage node's own single-PUT throughput measured in the same run
# (bench/s3load -scenario big against the same node, with its root keys).
# The two alternate, ROUNDS times; the script prints every figure, the medians and the ratio,
# and the client's CPU time and peak RSS (/usr/bin/time).
#
#   scripts/client-throughput.sh            # 3 rounds of 2 GiB
#   ROUNDS=5 SIZE_MIB=512 scripts/client-throughput.sh
#   PRESIGN_BIN=/tmp/presign scripts/client-throughput.sh    # a binary built elsewhere
set -eu
ROUNDS=${ROUNDS:-3}
SIZE_MIB=${SIZE_MIB:-2048}
PARALLEL=${PARALLEL:-4}
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/presign-throughput.XXXXXX)
serve_pid=
cleanup() {
	[ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

if [ -n "${PRESIGN_BIN:-}" ]; then cp "$PRESIGN_BIN" "$work/presign"; else go build -o "$work/presign" ./cmd/presign; fi
go build -o "$work/s3load" ./bench/s3load
head -c "${SIZE_MIB}M" /dev/urandom >"$work/file.bin"

PRESIGN_ADMIN_PASSWORD=throughput-admin "$work/presign" serve --data "$work/data" \
	--addr 127.0.0.1:0 --storage-addr 127.0.0.1:0 >/dev/null 2>"$work/serve.log" &
serve_pid=$!
for _ in $(seq 100); do
	grep -q 'storage node listening' "$work/serve.log" 2>/dev/null && grep -q 'control plane listening' "$work/serve.log" && break
	sleep 0.1
done
url() { sed -n "s/.*msg=\"$1 listening\" url=\([^ ]*\).*/\1/p" "$work/serve.log" | head -1; }
cp_url=$(url "control plane")
st_url=$(url "storage node")
key() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$work/data/credentials.json"; }
for _ in $(seq 100); do [ -s "$work/data/credentials.json" ] && break; sleep 0.1; done
ak=$(key access_key)
sk=$(key secret_key)
export PRESIGN_CONFIG_DIR="$work/config"
for _ in $(seq 100); do curl -fs "$cp_url/readyz" >/dev/null && break; sleep 0.1; done
echo throughput-admin | "$work/presign" login "$cp_url" --username admin --password-stdin 2>/dev/null

bytes=$((SIZE_MIB * 1024 * 1024))
node() {
	mbps=$(AWS_SECRET_ACCESS_KEY="$sk" "$work/s3load" -json -endpoint "$st_url" -access-key "$ak" -scenario big \
		-size "${SIZE_MIB}MiB" | sed -n 's/.*"phase":"put".*"mb_per_s":\([0-9.e+]*\).*/\1/p' | awk '{ printf "%.1f", $1 }')
	[ -n "$mbps" ] || { echo "the node's single PUT failed" >&2; exit 1; }
	echo "$mbps" >>"$work/node.txt"
	echo "  node single PUT: $mbps MB/s"
}
cli() {
	/usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" "$work/presign" upload --quiet --parallel "$PARALLEL" "$work/file.bin" >"$work/id.txt"
	read -r wall user sys rss <"$work/time.txt"
	mbps=$(awk -v b="$bytes" -v w="$wall" 'BEGIN { printf "%.1f", b / w / 1e6 }')
	echo "$mbps $user $sys $rss" >>"$work/cli.txt"
	echo "  presign upload:  $mbps MB/s ($wall s wall, CPU ${user} s user + ${sys} s sys, peak RSS $((rss / 1024)) MiB)"
	"$work/presign" rm "$(cat "$work/id.txt")"
}
# Each measurement starts on a settled disk: what the previous one left to write back (and
# its deletions) would otherwise slow the next one down, whichever it is.
settle() { sync; sleep "${SETTLE_S:-5}"; }
for r in $(seq "$ROUNDS"); do
	echo "round $r"
	if [ $((r % 2)) -eq 1 ]; then settle; node; settle; cli; else settle; cli; settle; node; fi
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
node_med=$(median <"$work/node.txt")
cli_med=$(cut -d' ' -f1 "$work/cli.txt" | median)
cpu_med=$(awk '{ print $2 + $3 }' "$work/cli.txt" | median)
rss_med=$(cut -d' ' -f4 "$work/cli.txt" | median)
echo "median of $ROUNDS: node single PUT $node_med MB/s, presign upload $cli_med MB/s," \
	"ratio $(awk -v a="$cli_med" -v b="$node_med" 'BEGIN { printf "%.0f%%", 100 * a / b }');" \
	"client CPU $cpu_med s for $SIZE_MIB MiB, peak RSS $((${rss_med%.*} / 1024)) MiB"
