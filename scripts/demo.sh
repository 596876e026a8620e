#!/usr/bin/env bash
# The identifier pipeline on a sample list: what a party does to every number
# before it keeps only pseudonyms. Invalid lines are expected in the sample.
set -uo pipefail
bin=${1:-bin/linkd}
sample=examples/numbers-tr.txt
echo "== $sample, read with Turkey as the default country"
cat "$sample"
echo
echo "== linkd normalize --country TR"
"$bin" normalize --country TR <"$sample"
echo
for s in PHONE_SHA256 PHONE_E164_SHA256 PHONE_E164_SHA256_B64; do
	echo "== linkd hash --schema $s --country TR"
	"$bin" hash --schema "$s" --country TR <"$sample"
	echo
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export LINKD_PASSPHRASE="demo passphrase, not for production"
echo "== linkd keys init --party social (a key file sealed with LINKD_PASSPHRASE)"
"$bin" keys init --party social --keys "$dir/social.keys"
echo
echo "== linkd keys rotate"
"$bin" keys rotate --keys "$dir/social.keys"
echo
echo "== the key file holds no secret in the clear:"
sed 's/"sealed": ".\{24\}.*"/"sealed": "(ciphertext)"/' "$dir/social.keys"
