#!/usr/bin/env bash
# Builds the SeaweedFS server ("weed") that the scale-out tests use as a third-party S3
# cluster, once per machine, and prints the binary's path. `go install` refuses its module
# (its go.mod has replace directives), so the module is downloaded, copied somewhere writable
# and built in place. The binary is cached under ~/.cache/presign/ between runs.
set -euo pipefail
version="v0.0.0-20261109003541-7506e5f91cd6"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/presign"
bin="$cache/weed-$version"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
src=$(go mod download -json "github.com/seaweedfs/seaweedfs@$version" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src" "$work/seaweedfs"
chmod -R u+w "$work/seaweedfs"
(cd "$work/seaweedfs/weed" && GOFLAGS=-mod=mod go build -o "$bin.tmp" .) >&2
mv "$bin.tmp" "$bin"
echo "$bin"
