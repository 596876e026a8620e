// Package r255test gives tests RFC 9496's invalid ristretto255 encodings.
package r255test

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/hex"
	"strings"
)

//go:embed rfc9496-invalid-encodings.txt
var invalidFile []byte

// InvalidEncodings returns RFC 9496 Appendix A.2's encodings that every
// decoder must refuse.
func InvalidEncodings() [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(invalidFile))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil || len(b) != 32 {
			panic("r255test: bad line in rfc9496-invalid-encodings.txt")
		}
		out = append(out, b)
	}
	return out
}

// Identity is the encoding of the identity element.
func Identity() []byte { return make([]byte, 32) }
