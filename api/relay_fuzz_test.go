package api

import (
	"strings"
	"testing"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/subject"
)

// FuzzPeerSignals feeds the relay route's decoding any body: it is refused
// with a 422 that does not quote it, or every message it holds reads as a
// valid message that writes back, through peer.WireSignals, to itself.
func FuzzPeerSignals(f *testing.F) {
	f.Add(`{"messages":[{"kind":"signal","id":"sig_0a1b","link_id":"00112233445566778899aabbccddeeff","type":"scam","confidence":0.9,` +
		`"created_at":"2026-11-27T10:00:00Z","expires_at":"2026-12-27T10:00:00Z"}]}`)
	f.Add(`{"messages":[{"kind":"revoke","id":"x","link_id":"00112233445566778899AABBCCDDEEFF","type":"t","confidence":1,` +
		`"created_at":"2026-11-27T10:00:00.123456789+03:00","expires_at":"2026-11-27T10:00:01+03:00"}]}`)
	f.Add(`{"messages":[{"kind":"outcome","id":"sig_0a1b","outcome":"false_positive","decided_at":"2026-11-28T10:00:00.5+01:00"}]}`)
	f.Add(`{"messages":[{"kind":"outcome","id":"x","outcome":"disable","decided_at":"2026-11-28T10:00:00Z","type":"spam"}]}`)
	f.Add(`{"messages":[{"kind":"signal","confidence":-0}]}`)
	f.Add(`{"messages":null}`)
	f.Add(`{"messages":[{}],"more":1}`)
	f.Fuzz(func(t *testing.T, body string) {
		var req peer.PeerSignals
		if err := strictDecode(strings.NewReader(body), &req, "the body", ""); err != nil {
			checkRefusal(t, err, body)
			return
		}
		for _, p := range req.Messages {
			m, why := p.Message()
			if why != "" {
				if len(body) >= 8 && strings.Contains(why, body) {
					t.Fatalf("the refusal quotes the body: %q", why)
				}
				continue
			}
			if m.Kind != signal.KindOutcome && (m.Confidence < 0 || m.Confidence > 1 || !m.ExpiresAt.After(m.CreatedAt)) || m.ID == "" ||
				m.Kind == signal.KindOutcome && (m.DecidedAt.IsZero() || m.LinkID != (psi.LinkID{})) {
				t.Fatalf("accepted %+v", m)
			}
			again, why := peer.WireSignals(mustOne(m)).Messages[0].Message()
			if why != "" || again != m {
				t.Fatalf("round trip: %+v -> %+v (%s)", m, again, why)
			}
		}
	})
}

func mustOne(m signal.Message) []signal.Message { return []signal.Message{m} }

// FuzzPeerSubjects feeds the data-subject relay route's decoding any
// body: it is refused without being quoted, or every request it holds
// reads as a valid request that writes back, through peer.WireSubjects,
// to itself.
func FuzzPeerSubjects(f *testing.F) {
	f.Add(`{"requests":[{"kind":"objection","id":"sr_0a1b","link_id":"00112233445566778899aabbccddeeff","purpose":"ads",` +
		`"requested_at":"2026-12-04T10:00:00Z"}]}`)
	f.Add(`{"requests":[{"kind":"erasure","id":"sr_2","link_id":"00112233445566778899AABBCCDDEEFF","requested_at":"2026-12-04T10:00:00.123456789+03:00"}]}`)
	f.Add(`{"requests":[{"kind":"erasure","id":"sr_2","link_id":"00112233445566778899aabbccddeeff","purpose":"ads","requested_at":"2026-12-04T10:00:00Z"}]}`)
	f.Add(`{"requests":[{"kind":"objection","id":"sr_3","link_id":"0011","purpose":"ads"}]}`)
	f.Add(`{"requests":null}`)
	f.Add(`{"requests":[{}],"more":1}`)
	f.Fuzz(func(t *testing.T, body string) {
		var req peer.PeerSubjects
		if err := strictDecode(strings.NewReader(body), &req, "the body", ""); err != nil {
			checkRefusal(t, err, body)
			return
		}
		for _, p := range req.Requests {
			m, why := p.Message()
			if why != "" {
				if len(body) >= 8 && strings.Contains(why, body) {
					t.Fatalf("the refusal quotes the body: %q", why)
				}
				continue
			}
			if m.ID == "" || m.At.IsZero() || m.LinkID == (psi.LinkID{}) && p.LinkID == "" ||
				m.Kind == subject.KindErasure && m.Purpose != "" || m.Kind == subject.KindObjection && m.Purpose == "" {
				t.Fatalf("accepted %+v", m)
			}
			again, why := peer.WireSubjects([]subject.Message{m}).Requests[0].Message()
			if why != "" || again != m {
				t.Fatalf("round trip: %+v -> %+v (%s)", m, again, why)
			}
		}
	})
}
