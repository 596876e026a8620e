package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzEntryReader: any customer-list file reads as entries and per-line
// problems, one per line, never a panic; a problem never quotes its line.
func FuzzEntryReader(f *testing.F) {
	f.Add("phone,country\n0532 123 45 67,TR\n+44 7911 123456,\n")
	f.Add("+905321234567\nnot a number\n" + strings.Repeat("ab", 32) + "\n")
	f.Add("\"phone\",x\n\"unterminated\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := newEntryReaderFrom(strings.NewReader(in), "TR")
		if err != nil {
			return
		}
		lines := 0
		for {
			entries, probs, err := r.next(7)
			if err != nil {
				return
			}
			if len(entries)+len(probs) == 0 {
				break
			}
			for _, p := range probs {
				if _, rest, ok := strings.Cut(p, ": "); !ok || (len(rest) > 20 && strings.Contains(in, rest)) {
					t.Fatalf("problem %q", p)
				}
			}
			lines += len(entries) + len(probs)
			if lines > strings.Count(in, "\n")+1 {
				t.Fatalf("%d entries from %d lines", lines, strings.Count(in, "\n")+1)
			}
		}
	})
}

func TestResumable(t *testing.T) {
	for status, want := range map[int]bool{401: false, 403: false, 404: false, 422: false, 400: false, 429: true, 500: true, 503: true} {
		err := fmt.Errorf("batch 3: %w", &AnswerError{Method: "POST", Path: "/v1/audiences/a/users", Status: status})
		if got := Resumable(err); got != want {
			t.Errorf("Resumable after %d = %v, want %v", status, got, want)
		}
	}
	if !Resumable(errors.New("connection refused")) {
		t.Error("an upload cut by the network is not resumable")
	}
}

func TestHeaderWithoutPhoneColumn(t *testing.T) {
	if _, err := newEntryReaderFrom(strings.NewReader("name,tel\nann,+447911123456\n"), "GB"); err == nil || !strings.Contains(err.Error(), `"phone"`) {
		t.Fatalf("a CSV without a phone column: %v", err)
	}
	for _, ok := range []string{"phone\n+447911123456\n", "Phone,Country\n07911 123456,GB\n", "+447911123456\n07911 123456\n"} {
		if _, err := newEntryReaderFrom(strings.NewReader(ok), "GB"); err != nil {
			t.Fatalf("%q: %v", ok, err)
		}
	}
}

// TestClientHeaders: a client with a key sends it; one without sends no
// Authorization header; WithHeader adds a header to every call and
// leaves the client it came from as it was.
func TestClientHeaders(t *testing.T) {
	var got []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Clone())
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	base := New(srv.URL, "", time.Second)
	token := base.WithHeader("X-Linkd-CSRF", "tok")
	for _, c := range []*Client{New(srv.URL, "lk_k", time.Second), base, token, base} {
		if err := c.Call(context.Background(), "POST", "/v1/x", map[string]int{"a": 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got[0].Get("Authorization") != "Bearer lk_k" || got[1].Get("Authorization") != "" || got[2].Get("X-Linkd-CSRF") != "tok" ||
		got[2].Get("Authorization") != "" || got[3].Get("X-Linkd-CSRF") != "" || got[2].Get("Content-Type") != "application/json" {
		t.Fatalf("headers sent: %v", got)
	}
}
