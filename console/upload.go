package console

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/linkd/linkd/phone"
)

// The upload page runs package uploader's WebAssembly (linkd.wasm, with
// Go's wasm_exec.js beside it): `go generate ./console` (make build)
// builds both into static/, which the binary embeds.
//
//go:generate sh -c "GOOS=js GOARCH=wasm go build -trimpath -ldflags=-s -o static/linkd.wasm ./uploader && cp \"$(go env GOROOT)/lib/wasm/wasm_exec.js\" static/wasm_exec.js"

// wasmFiles are the upload page's WebAssembly and its loader.
var wasmFiles = []string{"linkd.wasm", "wasm_exec.js"}

// hasWASM says whether fsys holds the upload page's files.
func hasWASM(fsys fs.FS) bool {
	if fsys == nil {
		return false
	}
	for _, f := range wasmFiles {
		if _, err := fs.Stat(fsys, f); err != nil {
			return false
		}
	}
	return true
}

// wasmServer serves the WebAssembly files, gzipped once for the browsers
// that take it.
type wasmServer struct {
	fsys fs.FS
	once sync.Map // name -> *gzipped
}

type gzipped struct {
	once sync.Once
	raw  []byte
	gz   []byte
	err  error
}

func (s *wasmServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if !slices.Contains(wasmFiles, name) || s.fsys == nil {
		http.NotFound(w, r)
		return
	}
	v, _ := s.once.LoadOrStore(name, &gzipped{})
	g := v.(*gzipped)
	g.once.Do(func() {
		if g.raw, g.err = fs.ReadFile(s.fsys, name); g.err != nil {
			return
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(g.raw)
		_ = zw.Close()
		g.gz = buf.Bytes()
	})
	if g.err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("Vary", "Accept-Encoding")
	if strings.HasSuffix(name, ".wasm") {
		h.Set("Content-Type", "application/wasm")
	} else {
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	}
	body := g.raw
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = g.gz
	}
	_, _ = w.Write(body)
}

type uploadView struct {
	A          aud
	HasWASM    bool
	Schemas    []phone.Schema
	CanPrivate bool
	Party      string
}

// uploadPage is the customer-list upload: the numbers are read and
// prepared in the page; only hashes or OPRF outputs are sent.
func (c *Console) uploadPage(q *request) error {
	var a aud
	if err := q.call(http.MethodGet, "/v1/audiences/"+url.PathEscape(q.r.PathValue("id")), nil, nil, &a); err != nil {
		return err
	}
	v := uploadView{A: a, HasWASM: hasWASM(c.WASM), Schemas: phone.HashSchemas, CanPrivate: q.can("oprf.evaluate")}
	return c.render(q, http.StatusOK, "upload", "Upload to "+a.Name, v)
}

// relayRoutes are the API calls the upload page makes through the
// console, as the signed-in key: the OPRF's, and the batches.
func (c *Console) relayTo(apiPath func(*http.Request) string) func(*Console, *request) error {
	return func(c *Console, q *request) error {
		var body []byte
		if q.r.Method == http.MethodPost {
			var err error
			if body, err = io.ReadAll(q.r.Body); err != nil {
				return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "the request body is too large"}
			}
		}
		rec := q.forward(q.r.Method, apiPath(q.r), body)
		h := q.w.Header()
		h.Set("Content-Type", "application/json")
		if ra := rec.h.Get("Retry-After"); ra != "" {
			h.Set("Retry-After", ra)
		}
		q.w.WriteHeader(rec.code)
		_, err := q.w.Write(rec.body.Bytes())
		return err
	}
}
