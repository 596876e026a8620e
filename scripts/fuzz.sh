#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 20s).
# The seed corpora live in each package's testdata/fuzz.
set -euo pipefail
fuzztime=${FUZZTIME:-20s}
cd "$(dirname "$0")/.."
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' || true)
	for t in $targets; do
		echo "fuzz: $pkg $t ($fuzztime)"
		go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/linkd-fuzz.$$.log 2>&1 || {
			cat /tmp/linkd-fuzz.$$.log
			rm -f /tmp/linkd-fuzz.$$.log
			exit 1
		}
	done
done
rm -f /tmp/linkd-fuzz.$$.log
echo "fuzz: all targets passed"
