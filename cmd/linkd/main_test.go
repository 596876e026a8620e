package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/spectest"
	"github.com/linkd/linkd/policies"
)

// checked carries every HTTP answer the tests receive through the default
// client, and keeps those that differ from api/openapi.json.
var checked = &spectest.Transport{Next: http.DefaultTransport}

// specChecked runs the tests, then fails the run if any answer differed
// from the OpenAPI document.
type specChecked struct{ m *testing.M }

func (s specChecked) Run() int {
	http.DefaultTransport = checked
	code := s.m.Run()
	if errs := checked.Mismatches(); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(os.Stderr, err)
		}
		fmt.Fprintf(os.Stderr, "FAIL: %d answers differ from api/openapi.json\n", len(errs))
		return 1
	}
	return code
}

func TestMain(m *testing.M) {
	testscript.Main(specChecked{m}, map[string]func(){
		"linkd": func() {
			os.Exit(run(&env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:]))
		},
	})
}

// TestScripts runs the command-line scripts in testdata/script: each is a
// session at a shell with the linkd binary, its inputs and expected outputs.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		// Each script finds a schema in $PGURL and two copies of the default policy bundle, in
		// $WORK/policies to edit and in $WORK/orig to compare with.
		Setup: func(e *testscript.Env) error {
			// $PGURL: a PostgreSQL schema of the script's own.
			_, schema := pgtest.Schema(t)
			e.Setenv("PGURL", pgtest.AppURL(t, schema))
			for _, d := range []string{"policies", "orig"} {
				if err := os.CopyFS(filepath.Join(e.WorkDir, d), policies.DefaultFS()); err != nil {
					return err
				}
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// jsonget VAR FILE PATH sets VAR to the value at PATH (keys and
			// array indexes joined by dots: items.0.id) of the JSON in FILE.
			"jsonget": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 3 {
					ts.Fatalf("usage: jsonget VAR FILE PATH")
				}
				var v any
				ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &v))
				for _, k := range strings.Split(args[2], ".") {
					switch x := v.(type) {
					case map[string]any:
						v = x[k]
					case []any:
						i, err := strconv.Atoi(k)
						if err != nil || i < 0 || i >= len(x) {
							ts.Fatalf("%s: no element %s", args[2], k)
						}
						v = x[i]
					default:
						ts.Fatalf("%s: %s is not in %s", args[1], args[2], ts.ReadFile(args[1]))
					}
				}
				if v == nil {
					ts.Fatalf("%s: %s is not in %s", args[1], args[2], ts.ReadFile(args[1]))
				}
				if str, ok := v.(string); ok {
					ts.Setenv(args[0], str)
					return
				}
				b, _ := json.Marshal(v)
				ts.Setenv(args[0], string(b))
			},
			// freeport VAR sets VAR to a loopback address no one listens on.
			"freeport": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: freeport VAR")
				}
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				ts.Check(err)
				ts.Setenv(args[0], ln.Addr().String())
				ln.Close()
			},
			// ready URL waits, up to a minute, for URL to answer 200.
			"ready": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: ready URL")
				}
				for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
					resp, err := http.Get(args[0])
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							return
						}
					}
				}
				ts.Fatalf("%s did not answer 200 within a minute", args[0])
			},
			// edit FILE OLD NEW replaces the first OLD in FILE with NEW;
			// OLD must be there.
			"edit": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 3 {
					ts.Fatalf("usage: edit FILE OLD NEW")
				}
				data := ts.ReadFile(args[0])
				if !strings.Contains(data, args[1]) {
					ts.Fatalf("%s does not contain %q", args[0], args[1])
				}
				err := os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Replace(data, args[1], args[2], 1)), 0o644)
				ts.Check(err)
			},
		},
	})
}
