#!/usr/bin/env bash
# Links two parties of N accounts each (half of them common) as two linkd
# serve processes on two PostgreSQL databases of this machine, and reports
# the wall time of the run, each server's peak RSS and CPU, and the
# group-operation floor measured in the same run. Then it imports NEW more
# accounts on one side (default 10000: half of them numbers the other side
# has, half new to both) and times the incremental run that links them.
#
#   N=1000000 scripts/bench-link.sh
#
# With WORK=DIR the binary, keys and directories are kept in DIR; run
# again with the same WORK (and N), it skips the setup and the full run
# (FULL=1 runs a full one again) and times another incremental run of NEW
# new accounts.
#
# It drops and creates the databases linkd_bench_social and
# linkd_bench_messenger on PGHOST (default 127.0.0.1, user postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
NEW=${NEW:-10000}
PG=${PGURL:-postgres://postgres@127.0.0.1:5432}
if [ -n "${WORK:-}" ]; then
	work=$WORK
	mkdir -p "$work"
	trap 'pkill -INT -f "$work/linkd serve" 2>/dev/null || true; sleep 1' EXIT
else
	work=$(mktemp -d)
	trap 'pkill -INT -f "$work/linkd serve" 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT
fi
go build -o "$work/linkd" ./cmd/linkd
export LINKD_PASSPHRASE="bench passphrase, not for production"
common=$((N / 2))
total=$((2 * N - common))
key() { DATABASE_URL="$PG/linkd_bench_$1?sslmode=disable" LINKD_KEYS="$work/$1.keys" "$work/linkd" apikey create --tenant "$2" --role "$3" | tail -1; }
if [ ! -f "$work/setup" ]; then
	for party in social messenger; do
		psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS linkd_bench_$party" -c "CREATE DATABASE linkd_bench_$party"
	done
	go build -o "$work/gendir" ./scripts/gendir
	"$work/gendir" -n "$total" -from 0 -to "$N" -prefix s > "$work/social.csv" &
	"$work/gendir" -n "$total" -from $((N - common)) -to "$total" -prefix m > "$work/messenger.csv" &
	wait
	for party in social messenger; do
		export DATABASE_URL="$PG/linkd_bench_$party?sslmode=disable" LINKD_KEYS="$work/$party.keys"
		"$work/linkd" keys init --party "$party" > /dev/null
		"$work/linkd" migrate > /dev/null
		echo "importing $N accounts for $party..."
		ibegin=$(date +%s.%N)
		"$work/linkd" directory import --party "$party" "$work/$party.csv"
		echo "wall time of the import: $(echo "$(date +%s.%N) - $ibegin" | bc) s"
	done
	{
		echo "social_peer=$(key messenger social party)"
		echo "messenger_peer=$(key social messenger party)"
		echo "admin=$(key social ops admin)"
		echo "rounds=0"
	} > "$work/setup"
	full=1
fi
# shellcheck disable=SC1091
. "$work/setup"
[ -z "${FULL:-}" ] || full=1
start_serve() { # party addr peer-addr peer-key
	DATABASE_URL="$PG/linkd_bench_$1?sslmode=disable" LINKD_KEYS="$work/$1.keys" LINKD_PEER_KEY="$4" \
		/usr/bin/time -v -o "$work/$1.time" "$work/linkd" serve --party "$1" --addr "$2" --metrics-addr off --peer "http://$3" 2> "$work/$1.log" &
}
start_serve social 127.0.0.1:18080 127.0.0.1:18081 "$social_peer"
start_serve messenger 127.0.0.1:18081 127.0.0.1:18080 "$messenger_peer"
for port in 18080 18081; do
	until curl -sf "http://127.0.0.1:$port/readyz" > /dev/null; do sleep 0.2; done
done
# The floor: each party re-blinds the other's N elements once (the
# checks, one X25519 multiplication): 2N operations over the cores.
# The cost of one is measured right before the full run and right after
# it, and the two averaged: the machine's speed drifts over minutes.
# Each floor, and the run, starts after a CHECKPOINT, so that neither
# shares the cores with PostgreSQL writing out what came before (the
# imports, the run).
checkpoint() { psql "$PG/postgres" -qc CHECKPOINT; }
floor_per() { # the benchmark's ns an element: ReblindBatch, CheckElements or PeerFloor
	checkpoint
	go test -run '^$' -bench "^Benchmark$1\$" -benchtime 10x ./crypto/psi |
		awk '/Benchmark/ {for (i = 1; i <= NF; i++) if ($(i+1) == "ns/element") print $i}'
}
if [ -n "${full:-}" ]; then
	per_before=$(floor_per ReblindBatch)
	checkpoint
	echo "linking $N x $N ($common common)..."
	begin=$(date +%s.%N)
	"$work/linkd" link run --full --server http://127.0.0.1:18080 --key "$admin" 2> "$work/run.log" || {
		cat "$work/run.log" "$work/social.log" | tail -20
		exit 1
	}
	end=$(date +%s.%N)
	wall=$(echo "$end - $begin" | bc)
	echo "wall time of the run: ${wall} s"
fi
if [ "$NEW" -gt 0 ]; then
	# Round r takes the next NEW/2 people only the messenger has and the
	# next NEW/2 people on neither side.
	half=$((NEW / 2))
	r=$rounds
	{
		go run ./scripts/gendir -n $((total + (r + 1) * half)) -from $((N + r * half)) -to $((N + (r + 1) * half)) -prefix s
		go run ./scripts/gendir -n $((total + (r + 1) * half)) -from $((total + r * half)) -to $((total + (r + 1) * half)) -prefix s | tail -n +2
	} > "$work/new.csv"
	sed -i "s/^rounds=.*/rounds=$((r + 1))/" "$work/setup"
	echo "importing $NEW new accounts for social ($half of them on the messenger)..."
	DATABASE_URL="$PG/linkd_bench_social?sslmode=disable" LINKD_KEYS="$work/social.keys" \
		"$work/linkd" directory import --party social "$work/new.csv" > /dev/null
	echo "linking the $NEW new accounts against $N x $N linked..."
	ibegin=$(date +%s.%N)
	"$work/linkd" link run --server http://127.0.0.1:18080 --key "$admin" > "$work/inc.out" 2> "$work/inc.log" || {
		cat "$work/inc.log" "$work/social.log" | tail -20
		exit 1
	}
	iend=$(date +%s.%N)
	cat "$work/inc.out"
	grep -q "built on the last run: $NEW sent, 0 received" "$work/inc.out" || { echo "not an incremental run of $NEW" >&2; exit 1; }
	grep -q "matched $((common + (r + 1) * half)) of" "$work/inc.out" || { echo "want $((common + (r + 1) * half)) matched" >&2; exit 1; }
	echo "wall time of the incremental run: $(echo "$iend - $ibegin" | bc) s"
fi
pkill -INT -f "$work/linkd serve" || true
wait || true
for party in social messenger; do
	rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$work/$party.time")
	cpu=$(awk -F': ' '/Percent of CPU/ {print $2}' "$work/$party.time")
	user=$(awk -F': ' '/User time/ {print $2}' "$work/$party.time")
	echo "$party serve: peak RSS $((rss / 1024)) MB, CPU $cpu ($user s user, whole life incl. start)"
done
[ -n "${full:-}" ] || exit 0
per_after=$(floor_per ReblindBatch)
check=$(floor_per CheckElements)
peer=$(floor_per PeerFloor)
per=$(echo "($per_before + $per_after) / 2" | bc -l)
cores=$(nproc)
floor=$(echo "2 * $N * $per / 1000000000" | bc -l)
printf 'floor: 2 x %d re-blindings at %.0f ns an element (%.0f before the run, %.0f after) on %d cores (batched, all cores) = %.1f s\n' \
	"$N" "$per" "$per_before" "$per_after" "$cores" "$floor"
printf 'ratio: %.2fx the floor\n' "$(echo "$wall / $floor" | bc -l)"
# The protocol's other group operations: each party checks each
# doubly blinded value the other returns (2N checks in all), measured
# after the run.
checks=$(echo "2 * $N * $check / 1000000000" | bc -l)
printf 'with the value checks: 2 x %d checks of a received value at %.0f ns an element = %.1f s more, %.1f s in all; ratio %.2fx\n' \
	"$N" "$check" "$checks" "$(echo "$floor + $checks" | bc -l)" "$(echo "$wall / ($floor + $checks)" | bc -l)"
# The peer's floor: optable/match's DH-PSI, the best-known Go
# implementation, spends on each element pair two hashes to group and
# multiplications and two decodes and multiplications on ristretto255
# (gtank/ristretto255), measured now on the same cores (BenchmarkPeerFloor
# reports the four for one element of each side).
pfloor=$(echo "$N * $peer / 1000000000" | bc -l)
printf "the peer's floor: %d element pairs at %.0f ns a pair (2 hash+multiply, 2 decode+multiply, gtank/ristretto255) on %d cores = %.1f s; this run is %.2fx it\n" \
	"$N" "$peer" "$cores" "$pfloor" "$(echo "$wall / $pfloor" | bc -l)"
