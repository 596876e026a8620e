package access

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Session is a person signed in to the console with an API key: the key
// decides what they may do, Name is who they are (a reviewer's name in
// the decisions they take). Only a hash of the session's secret, the
// cookie's value, is stored.
type Session struct {
	Hash      Hash
	KeyID     string
	Name      string
	CreatedAt time.Time
	// SeenAt is the session's last request: past the idle limit it has
	// expired.
	SeenAt time.Time
}

// Session limits: a session ends after SessionIdle without a request, and
// at the latest SessionMax after sign-in.
const (
	SessionIdle = 30 * time.Minute
	SessionMax  = 12 * time.Hour
)

// sessionPrefix marks console session secrets.
const sessionPrefix = "lks_"

// MaxNameLen bounds a signed-in person's name, in characters.
const MaxNameLen = 80

// CheckName checks a person's name: 1 to MaxNameLen printable characters.
func CheckName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("access: a name is required: it is recorded as the reviewer of decisions")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLen:
		return fmt.Errorf("access: a name is at most %d characters of valid UTF-8", MaxNameLen)
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return errors.New("access: a name holds printable characters only")
	}
	return nil
}

// NewSession starts a session for the person name signed in with key:
// the secret for the cookie, and the record to store.
func NewSession(keyID, name string, now time.Time) (secret string, s Session, err error) {
	if err := CheckName(name); err != nil {
		return "", Session{}, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Session{}, fmt.Errorf("access: %w", err)
	}
	secret = sessionPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	now = now.UTC()
	return secret, Session{Hash: HashKey(secret), KeyID: keyID, Name: strings.TrimSpace(name), CreatedAt: now, SeenAt: now}, nil
}

// CSRFToken is the token a session's forms carry: derived from the
// session's secret, so a page of another origin, which cannot read the
// cookie, cannot make it, and the server keeps nothing more.
func CSRFToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("linkd console form"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports, in constant time, whether token is the session's.
func CheckCSRF(secret, token string) bool {
	return hmac.Equal([]byte(CSRFToken(secret)), []byte(token))
}
