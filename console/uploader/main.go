//go:build js && wasm

// Command uploader is the console's upload page's WebAssembly: it reads a
// customer list in the page and normalizes, hashes (or, in private mode,
// blinds, has evaluated, verifies and finalizes) every number there, with
// the same code as `linkd audience upload` (package client), so that no
// number leaves the browser. Its calls go to the console's API relay with
// the page's session and form token.
//
// It sets one function on the page, linkdUpload(options, progress, state),
// which returns a promise of the upload's result.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall/js"
	"time"

	"github.com/linkd/linkd/client"
	"github.com/linkd/linkd/phone"
)

func main() {
	js.Global().Set("linkdUpload", js.FuncOf(upload))
	select {}
}

// options are the page's: the list is a Uint8Array, previous the state
// an interrupted run saved (JSON, or "").
type options struct {
	Audience string `json:"audience"`
	Mode     string `json:"mode"`
	Schema   string `json:"schema"`
	Country  string `json:"country"`
	Batch    int    `json:"batch"`
	Name     string `json:"name"`
	CSRF     string `json:"csrf"`
	Previous string `json:"previous"`
}

type result struct {
	Lines    int      `json:"lines"`
	Batches  int      `json:"batches"`
	Received int      `json:"num_received"`
	Invalid  int      `json:"num_invalid_entries"`
	Local    int      `json:"invalid_here"`
	Problems []string `json:"problems"`
	Resumed  bool     `json:"resumed"`
}

func upload(_ js.Value, args []js.Value) any {
	if len(args) < 4 {
		return reject("linkdUpload(options, list, progress, state)")
	}
	var o options
	if err := json.Unmarshal([]byte(js.Global().Get("JSON").Call("stringify", args[0]).String()), &o); err != nil {
		return reject("options: " + err.Error())
	}
	list := make([]byte, args[1].Get("length").Int())
	js.CopyBytesToGo(list, args[1])
	progress, state := args[2], args[3]
	return js.Global().Get("Promise").New(js.FuncOf(func(_ js.Value, p []js.Value) any {
		resolve, rejectFn := p[0], p[1]
		go func() {
			res, err := run(o, list, progress, state)
			if err != nil {
				rejectFn.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			b, _ := json.Marshal(res)
			resolve.Invoke(js.Global().Get("JSON").Call("parse", string(b)))
		}()
		return nil
	}))
}

func reject(msg string) any {
	return js.Global().Get("Promise").Call("reject", js.Global().Get("Error").New(msg))
}

func run(o options, list []byte, progress, state js.Value) (result, error) {
	u := client.Upload{Audience: o.Audience, Private: o.Mode == "private", Country: strings.ToUpper(strings.TrimSpace(o.Country)),
		Batch: o.Batch, File: o.Name, Content: list}
	if !u.Private {
		s, err := phone.ParseSchema(o.Schema)
		if err != nil {
			return result{}, err
		}
		u.Schema = s
	}
	if u.Batch < 1 || u.Batch > 10000 {
		return result{}, errors.New("a batch is 1 to 10,000 entries")
	}
	if o.Previous != "" {
		var prev client.UploadState
		if json.Unmarshal([]byte(o.Previous), &prev) == nil {
			u.Previous = &prev
		}
	}
	u.Save = func(st client.UploadState) error {
		b, _ := json.Marshal(st)
		state.Invoke(string(b))
		return nil
	}
	p, err := client.Prepare(u)
	if err != nil {
		return result{}, err
	}
	res := result{Lines: p.Lines, Batches: p.Batches, Resumed: p.Resumed}
	lines := 0
	err = p.Run(context.Background(), newRelay(o.CSRF), func(batch, n int) {
		lines += n
		progress.Invoke(batch, p.Batches, lines, p.Lines)
	})
	res.Received, res.Invalid, res.Local, res.Problems = p.State.Received, p.State.Invalid, p.State.Local, p.Problems
	if err != nil {
		if client.Resumable(err) {
			return res, fmt.Errorf("%w. Choose the same file and upload again to resume", err)
		}
		return res, fmt.Errorf("%w. Uploading again will not change that", err)
	}
	return res, nil
}

// relay calls the API through the console, as the signed-in person: a
// client of the console's relay routes, its session's cookie going with
// each call, and the page's form token.
type relay struct{ c *client.Client }

func newRelay(csrf string) relay {
	origin := js.Global().Get("location").Get("origin").String()
	return relay{client.New(origin+"/console/api", "", 5*time.Minute).WithHeader("X-Linkd-CSRF", csrf)}
}

func (r relay) Call(ctx context.Context, method, path string, in, out any) error {
	err := r.c.Call(ctx, method, path, in, out)
	var ae *client.AnswerError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		// The session, not the key: signing in again lets it go on.
		return errors.New("your session ended: sign in again in another tab")
	}
	return err
}
