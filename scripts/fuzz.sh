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
		corpus="$dir/testdata/fuzz/$t"
		for try in 1 2; do
			echo "fuzz: $pkg $t ($fuzztime)"
			before=$(ls "$corpus" 2>/dev/null | sort || true)
			if go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/linkd-fuzz.$$.log 2>&1; then
				break
			fi
			after=$(ls "$corpus" 2>/dev/null | sort || true)
			# Go 1.26's fuzzing coordinator can fail a target at the end of
			# -fuzztime with "context deadline exceeded" and no failing
			# input (go.dev/issue/75804): that is run once more. A failure
			# that wrote an input to the corpus is a finding, and fails.
			if [ "$try" = 1 ] && [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' /tmp/linkd-fuzz.$$.log; then
				echo "fuzz: $t stopped on the coordinator's deadline without an input; again"
				continue
			fi
			cat /tmp/linkd-fuzz.$$.log
			rm -f /tmp/linkd-fuzz.$$.log
			exit 1
		done
	done
done
rm -f /tmp/linkd-fuzz.$$.log
echo "fuzz: all targets passed"
