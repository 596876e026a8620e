package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzUploadParts: any payload and session text decodes into the upload
// shape or is refused with an invalid_request error naming its field,
// never a panic, and the error never quotes the input.
func FuzzUploadParts(f *testing.F) {
	f.Add(`{"schema":"PHONE_SHA256","data":["ab"]}`, `{"session_id":12,"batch_seq":1}`)
	f.Add(`"{\"schema\":[\"PHONE_SHA256\"],\"data\":[[\"ab\"]]}"`, `"{\"session_id\":\"s\",\"batch_seq\":2,\"last_batch_flag\":true}"`)
	f.Add(`{"schema":1}`, `[]`)
	f.Add(``, `null`)
	f.Fuzz(func(t *testing.T, payload, session string) {
		var p uploadPayload
		if err := strictJSON("payload", []byte(payload), &p); err != nil {
			checkRefusal(t, err, payload)
			return
		}
		_, _ = oneString(p.Schema)
		for _, d := range p.Data {
			_, _ = oneString(d)
		}
		var s uploadSession
		if err := strictJSON("session", []byte(session), &s); err != nil {
			checkRefusal(t, err, session)
		}
	})
}

func checkRefusal(t *testing.T, err error, input string) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok || !(e.Code == "invalid_request" && e.Status == 422 || e.Code == "malformed_request" && e.Status == 400) {
		t.Fatalf("neither a malformed_request (400) nor an invalid_request (422) error: %v", err)
	}
	if len(input) >= 8 && strings.Contains(e.Message, input) {
		t.Fatalf("the error quotes the input: %q", e.Message)
	}
	if _, err := json.Marshal(e); err != nil {
		t.Fatal(err)
	}
}
