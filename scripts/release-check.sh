#!/usr/bin/env bash
# Checks the release build (.goreleaser.yaml) without publishing anything:
# the config, then a snapshot build of every archive and checksums.txt into
# dist/. Needs goreleaser v2 (go install github.com/goreleaser/goreleaser/v2@v2.17.0
# builds with Go 1.26; later versions need a newer Go). scripts/test.sh runs
# only the fast `goreleaser check`, and only when goreleaser is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v goreleaser >/dev/null || { echo "goreleaser is not installed (see the comment at the top of $0)"; exit 1; }
goreleaser check
goreleaser release --snapshot --clean --skip=publish
ls dist/*.tar.gz dist/*.zip dist/checksums.txt
# The Linux binary must be static.
file dist/synclang_linux_amd64*/synclang | grep -q 'statically linked' || { echo "dist: the linux binary is not static"; exit 1; }
echo "ok"
