package console

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
)

// signinForm is the sign-in page's data.
type signinForm struct {
	Next  string
	Name  string
	Token string
	Error string
	// Plain says the page came over plain HTTP to a host other than this
	// machine while the cookies are Secure: the browser will not keep
	// them.
	Plain bool
}

// signinPage shows the sign-in form. Its token is also set in a cookie:
// a form posted from another site cannot know it, so nobody can be
// signed in to a console session of someone else's.
func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	c.showSignin(w, r, http.StatusOK, signinForm{Next: r.URL.Query().Get("next")})
}

func (c *Console) showSignin(w http.ResponseWriter, r *http.Request, status int, f signinForm) {
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	f.Token = base64.RawURLEncoding.EncodeToString(raw[:])
	f.Next = localPath(f.Next)
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	ip := net.ParseIP(host)
	f.Plain = c.SecureCookies && r.TLS == nil && !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") &&
		host != "localhost" && (ip == nil || !ip.IsLoopback())
	c.setCookie(w, r, signinCookie, f.Token, 3600)
	w.Header().Set("Cache-Control", "no-store")
	q := &request{w: w, r: r, c: c}
	if err := c.render(q, status, "signin", "Sign in", f); err != nil {
		c.Log.Error("console: rendering sign-in", "error", err)
	}
}

// signin exchanges an API key for a session.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	f := signinForm{Next: localPath(r.PostFormValue("next")), Name: r.PostFormValue("name")}
	ck, err := r.Cookie(signinCookie)
	if err != nil || !sameOrigin(r) || ck.Value == "" || !equal(ck.Value, r.PostFormValue("token")) {
		f.Error = "This sign-in form is out of date or did not come from this console. Try again."
		c.showSignin(w, r, http.StatusForbidden, f)
		return
	}
	if err := access.CheckName(f.Name); err != nil {
		f.Error = "Your name: " + trimPrefix(err.Error())
		c.showSignin(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	k, err := c.API.Authenticate(r, r.PostFormValue("key"), w.Header())
	if err != nil {
		if errors.Is(err, api.ErrSignIn) {
			f.Error = "Sign-in refused: " + err.Error() + "."
			status := http.StatusUnauthorized
			if w.Header().Get("Retry-After") != "" {
				status = http.StatusTooManyRequests
			}
			c.showSignin(w, r, status, f)
			return
		}
		c.Log.Error("console sign-in", "error", err)
		f.Error = "The console could not check the key; try again shortly."
		c.showSignin(w, r, http.StatusServiceUnavailable, f)
		return
	}
	if k.Role == access.RoleParty {
		f.Error = "Sign-in refused: a party key links the two parties; it does not sign in to the console."
		c.showSignin(w, r, http.StatusForbidden, f)
		return
	}
	secret, s, err := access.NewSession(k.ID, f.Name, c.Now())
	if err == nil {
		err = c.Sessions.CreateConsoleSession(r.Context(), s)
	}
	if err != nil {
		c.Log.Error("console sign-in", "error", err)
		f.Error = "The console could not start a session; try again shortly."
		c.showSignin(w, r, http.StatusServiceUnavailable, f)
		return
	}
	c.Log.Info("console sign-in", "key_id", k.ID, "role", string(k.Role))
	c.setCookie(w, r, signinCookie, "", -1)
	c.setCookie(w, r, sessionCookie, secret, int(access.SessionMax.Seconds()))
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

// signout ends the session.
func (c *Console) signout(q *request) error {
	if err := c.Sessions.EndConsoleSession(q.r.Context(), q.sess.Hash); err != nil {
		return err
	}
	c.setCookie(q.w, q.r, sessionCookie, "", -1)
	http.Redirect(q.w, q.r, "/console/signin", http.StatusSeeOther)
	return nil
}
