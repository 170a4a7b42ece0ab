#!/usr/bin/env bash
# The project's test command (README "Tests"): vet, format, the race-enabled
# test suite, and the examples checked, formatted, tested and compiled by synclang
# itself against their golden plans.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet"
go vet ./...

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi

echo "== go test -race"
go test -race -timeout 12m ./...

echo "== examples"
bin=$(mktemp -d)/synclang
go build -o "$bin" ./cmd/synclang
for project in examples examples/people-to-dynamics; do
  "$bin" check "$project"
  "$bin" fmt --check "$project"
  "$bin" test "$project"
  "$bin" compile "$project" | diff -u "$project/plan.json" - || { echo "$project/plan.json is stale: go test ./lang -update"; exit 1; }
done
if command -v goreleaser >/dev/null; then
  echo "== goreleaser check"
  goreleaser check  # the config only (fast); scripts/release-check.sh builds the archives
fi
echo "ok"
