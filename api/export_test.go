package api

// Routes lists every route the server serves, as "METHOD /path", as its
// router has them.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.e.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// ClientAddr exposes clientAddr to the tests of package api_test.
var ClientAddr = clientAddr
