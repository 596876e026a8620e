#!/usr/bin/env bash
# Links two parties of N accounts each (half of them common) as two linkd
# serve processes on two PostgreSQL databases of this machine, and reports
# the wall time of the run, each server's peak RSS and CPU, and the
# group-operation floor measured in the same run.
#
#   N=1000000 scripts/bench-link.sh
#
# It drops and creates the databases linkd_bench_social and
# linkd_bench_messenger on PGHOST (default 127.0.0.1, user postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
PG=${PGURL:-postgres://postgres@127.0.0.1:5432}
work=$(mktemp -d)
trap 'pkill -INT -f "$work/linkd serve" 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT
go build -o "$work/linkd" ./cmd/linkd
export LINKD_PASSPHRASE=bench
common=$((N / 2))
total=$((2 * N - common))
for party in social messenger; do
	psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS linkd_bench_$party" -c "CREATE DATABASE linkd_bench_$party"
done
go run ./scripts/gendir -n "$total" -from 0 -to "$N" -prefix s > "$work/social.csv"
go run ./scripts/gendir -n "$total" -from $((N - common)) -to "$total" -prefix m > "$work/messenger.csv"
for party in social messenger; do
	export DATABASE_URL="$PG/linkd_bench_$party?sslmode=disable" LINKD_KEYS="$work/$party.keys"
	"$work/linkd" keys init --party "$party" > /dev/null
	"$work/linkd" migrate > /dev/null
	echo "importing $N accounts for $party..."
	"$work/linkd" directory import --party "$party" "$work/$party.csv"
done
key() { DATABASE_URL="$PG/linkd_bench_$1?sslmode=disable" LINKD_KEYS="$work/$1.keys" "$work/linkd" apikey create --tenant "$2" --role "$3" | tail -1; }
social_peer=$(key messenger social party)
messenger_peer=$(key social messenger party)
admin=$(key social ops admin)
start_serve() { # party addr peer-addr peer-key
	DATABASE_URL="$PG/linkd_bench_$1?sslmode=disable" LINKD_KEYS="$work/$1.keys" LINKD_PEER_KEY="$4" \
		/usr/bin/time -v -o "$work/$1.time" "$work/linkd" serve --party "$1" --addr "$2" --peer "http://$3" 2> "$work/$1.log" &
}
start_serve social 127.0.0.1:18080 127.0.0.1:18081 "$social_peer"
start_serve messenger 127.0.0.1:18081 127.0.0.1:18080 "$messenger_peer"
for port in 18080 18081; do
	until curl -sf "http://127.0.0.1:$port/readyz" > /dev/null; do sleep 0.2; done
done
echo "linking $N x $N ($common common)..."
begin=$(date +%s.%N)
"$work/linkd" link run --server http://127.0.0.1:18080 --key "$admin" 2> "$work/run.log" || {
	cat "$work/run.log" "$work/social.log" | tail -20
	exit 1
}
end=$(date +%s.%N)
pkill -INT -f "$work/linkd serve" || true
wait || true
wall=$(echo "$end - $begin" | bc)
echo "wall time of the run: ${wall} s"
for party in social messenger; do
	rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$work/$party.time")
	cpu=$(awk -F': ' '/Percent of CPU/ {print $2}' "$work/$party.time")
	user=$(awk -F': ' '/User time/ {print $2}' "$work/$party.time")
	echo "$party serve: peak RSS $((rss / 1024)) MB, CPU $cpu ($user s user, whole life incl. start)"
done
# The floor: each party re-blinds the other's N elements once (strict
# decode, one scalar multiplication, encode): 2N operations over the cores.
per=$(go test -run '^$' -bench 'ReblindBatch' -benchtime 3x ./crypto/psi | awk '/ReblindBatch/ {for (i = 1; i <= NF; i++) if ($(i+1) == "ns/element") print $i}')
cores=$(nproc)
floor=$(echo "2 * $N * $per / 1000000000" | bc -l)
printf 'floor: 2 x %d re-blindings at %.0f ns an element on %d cores (batched, all cores) = %.1f s\n' "$N" "$per" "$cores" "$floor"
printf 'ratio: %.2fx the floor\n' "$(echo "$wall / $floor" | bc -l)"
