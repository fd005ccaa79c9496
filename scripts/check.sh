#!/usr/bin/env bash
# The checks CI runs beside the tests, for a laptop: no root, nothing installed system-wide.
#
#   scripts/check.sh          # everything below
#   scripts/check.sh static   # formatting, vet, staticcheck, go.mod, other systems' builds
#   scripts/check.sh race     # the concurrent packages under the race detector
#
# staticcheck is built once per machine into ~/.cache/presign/ (or $XDG_CACHE_HOME/presign/).
# It is the one linter beside vet, with its default checks and no configuration: it finds
# bugs, deprecated calls, needless code and unused code, which is what a golangci-lint set
# would add beyond vet, without a second tool's configuration to keep and a larger build.
# The race run needs the services of those packages' tests (PostgreSQL, and the SeaweedFS of
# scripts/build-seaweedfs.sh in $PRESIGN_WEED); without them those tests skip, unless
# CI=true, where they fail. .ci/run runs this script, so CI and a laptop check the same.
set -euo pipefail
cd "$(dirname "$0")/.."

staticcheck_version=v0.8.2

# The packages with goroutines of their own: group commit and compaction (storage/disk), the
# hashing pipe (storage), parallel part uploads (storage/s3backend), the outbox and its
# delivery (events/...), the SQLite writer and the stores' races (control/sqlite,
# control/postgres), the reconciler, waits and limits (control), application-event delivery
# (control/appevents), the SDK's parallel part uploads and their progress (client), Redis's
# nonces (storage/redisstore) and the fault proxy of the dependency tests
# (internal/testenv/faultproxy). The object-store providers (control/bucket,
# control/provider/...) are left out: they call one store from one request each, their only
# goroutines are their SDKs', and under the detector they cost CI a minute and a half.
race_packages=(./storage ./storage/disk ./storage/s3backend ./storage/redisstore ./events/... ./control
	./control/sqlite ./control/postgres ./control/appevents ./client ./internal/testenv/faultproxy)

step() {
	echo "== $*"
	SECONDS=0
}

done_step() { echo "   ok (${SECONDS}s)"; }

static() {
	step "gofmt"
	local unformatted
	unformatted=$(gofmt -l $(git ls-files '*.go'))
	if [ -n "$unformatted" ]; then
		echo "gofmt would change:"
		echo "$unformatted"
		exit 1
	fi
	done_step

	step "go vet"
	go vet ./...
	done_step

	step "staticcheck $staticcheck_version"
	local cache="${XDG_CACHE_HOME:-$HOME/.cache}/presign/staticcheck-$staticcheck_version"
	if [ ! -x "$cache/staticcheck" ]; then
		GOBIN="$cache" go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
	fi
	"$cache/staticcheck" ./...
	done_step

	step "go mod tidy -diff"
	go mod tidy -diff
	done_step

	# What is built only off Linux (storage/disk/*_other.go, internal/tcpcc/tcpcc_other.go,
	# the test helpers beside them) must keep compiling: darwin for the Unix path, windows,
	# with the tests, for the rest.
	step "GOOS=darwin go build ./..."
	GOOS=darwin go build ./...
	done_step

	step "GOOS=windows go vet ./..."
	GOOS=windows go vet ./...
	done_step
}

race() {
	# -short leaves out the tests that SIGKILL writer processes over and over (they prove crash
	# recovery, which the plain test run covers) and would take minutes more under the race
	# detector; every other test of these packages runs.
	step "go test -race -short ${race_packages[*]}"
	go test -race -short -count=1 "${race_packages[@]}"
	done_step
}

case "${1:-all}" in
static) static ;;
race) race ;;
all)
	static
	race
	;;
*)
	echo "usage: $0 [static|race|all]" >&2
	exit 2
	;;
esac
