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

echo "== PostgreSQL"
# The PostgreSQL state tests run against the server SYNCLANG_TEST_POSTGRES
# names (README "Tests"); without it they skip, saying how to enable them.
# CI (.ci/run) starts a server and sets SYNCLANG_REQUIRE_POSTGRES so that
# they cannot be skipped there.
if [ -n "${SYNCLANG_TEST_POSTGRES:-}" ]; then
  export SYNCLANG_TEST_POSTGRES
  echo "tests use the PostgreSQL server at $(printf '%s' "$SYNCLANG_TEST_POSTGRES" | sed -E 's#^(postgres(ql)?://)([^@/]*@)?([^/?]*).*#\4#')"
elif [ -n "${SYNCLANG_REQUIRE_POSTGRES:-}" ]; then
  echo "SYNCLANG_REQUIRE_POSTGRES is set but SYNCLANG_TEST_POSTGRES is not: no PostgreSQL server for the tests"; exit 1
else
  echo "SYNCLANG_TEST_POSTGRES is not set: the PostgreSQL tests skip (README \"Tests\" says how to run them)"
fi

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
echo "== editors/vscode: grammar tests, synclang lsp driven by VS Code's own protocol client, the .vsix"
(cd editors/vscode && npm ci --no-audit --no-fund && SYNCLANG="$bin" npm test && npm run package)
echo "ok"
