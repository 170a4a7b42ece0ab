#!/usr/bin/env bash
# The project's test command (README "Tests"): vet, format, the race-enabled
# test suite, and the examples checked and formatted by synclang itself.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== go vet"; go vet ./...
echo "== gofmt"; unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
echo "== go test -race"; go test -race -timeout 12m ./...
