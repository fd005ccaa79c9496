#!/usr/bin/env bash
# Builds the S3 command-line clients that the client tests drive and Debian does not package:
# mc (MinIO's client) and s5cmd. Each is built once per machine and cached under
# ~/.cache/presign/ (or $XDG_CACHE_HOME/presign/); the script prints their paths, one per line.
# `go install` refuses both (the module proxy will not list their versions, which it wants for
# deprecation notices), so each module is downloaded, copied somewhere writable and built in
# place; their vendor folders are left out, as module downloads carry none of their contents.
set -euo pipefail
mc_version="v0.0.0-20250313080218-cf909e1063a9"
s5cmd_version="v2.3.0"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/presign"
mkdir -p "$cache"

# build MODULE VERSION NAME: builds the module's main package as $cache/NAME-VERSION.
build() {
  local module=$1 version=$2 name=$3
  local bin="$cache/$name-$version"
  if [ ! -x "$bin" ]; then
    local src work
    src=$(go mod download -json "$module@$version" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
    work=$(mktemp -d)
    cp -r "$src" "$work/src"
    chmod -R u+w "$work/src"
    rm -rf "$work/src/vendor"
    (cd "$work/src" && GOFLAGS=-mod=mod go build -o "$bin.tmp" .) >&2
    mv "$bin.tmp" "$bin"
    chmod -R u+w "$work"
    rm -rf "$work"
  fi
  echo "$bin"
}

build github.com/minio/mc "$mc_version" mc
build github.com/peak/s5cmd/v2 "$s5cmd_version" s5cmd
