package linkjob_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/linkjob"
)

// FuzzOpen hands the responder any open a peer could send (the body as
// the peer route decodes it): it opens the job, with the set size of its
// directory, or refuses it with a protocol error that does not quote it
// and leaves no job; retired values it takes read back, strictly, to
// themselves.
func FuzzOpen(f *testing.F) {
	ident := linkjob.EncodeElements([]psi.Element{{}})[0]
	gb := psi.HashToGroup([]byte("x"))
	good := base64.StdEncoding.EncodeToString(gb[:])
	f.Add(`{"job_id":"j1","link_epoch":1,"link_group":"x25519-ell2","set_size":10,"batch_size":16}`)
	f.Add(`{"job_id":"j2","link_epoch":1,"link_group":"x25519-ell2","set_size":10,"batch_size":16,"base":"b","retired":["` + good + `"]}`)
	f.Add(`{"job_id":"j3","link_epoch":1,"link_group":"x25519-ell2","set_size":10,"batch_size":16,"base":"b","retired":["` + ident + `"]}`)
	f.Add(`{"job_id":"j4","link_epoch":1,"link_group":"x25519-ell2","set_size":-1,"batch_size":0,"retired":["!!"]}`)
	f.Add(`{"job_id":"","batch_size":10001}`)
	f.Add(`{"job_id":"j5","link_epoch":1,"link_group":"ristretto255","set_size":10,"batch_size":16}`)
	ctx := context.Background()
	side := newSide(f, "messenger", synth.People(5, 20), 16)
	resp := linkjob.Responder{P: side.p}
	f.Fuzz(func(t *testing.T, body string) {
		var o linkjob.Open
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		if dec.Decode(&o) != nil {
			return
		}
		_, existed := side.st.Job(ctx, o.JobID)
		out, err := resp.Open(ctx, o)
		if err != nil {
			if !errors.Is(err, linkjob.ErrProtocol) && (!errors.Is(err, linkjob.ErrGroup) || o.Group == psi.Group) {
				t.Fatalf("not a protocol error, nor the refusal of another link group: %v", err)
			}
			if len(body) >= 8 && strings.Contains(err.Error(), body) {
				t.Fatalf("the refusal quotes the body: %v", err)
			}
			if _, err := side.st.Job(ctx, o.JobID); err == nil && existed != nil {
				t.Fatal("a refused open left a job")
			}
			return
		}
		if out.Size != 20 || out.Incremental {
			t.Fatalf("opened %+v: want the directory's 20 accounts, a full run (nothing kept)", out)
		}
		if out.Group != psi.Group || o.Group != psi.Group {
			t.Fatalf("opened a run of link group %q, answering %q", o.Group, out.Group)
		}
		if len(o.Retired) > linkjob.MaxRetired || o.BatchSize < 1 || o.BatchSize > linkjob.DefaultBatch || o.JobID == "" {
			t.Fatalf("accepted %+v", o)
		}
		els, err := linkjob.DecodeElements(o.Retired)
		if err != nil {
			t.Fatalf("accepted retired values that do not decode: %v", err)
		}
		for i, e := range els {
			if err := psi.CheckElements([]psi.Element{e}); err != nil || linkjob.EncodeElements(els[i : i+1])[0] != o.Retired[i] {
				t.Fatalf("retired value %d accepted: %v", i, err)
			}
		}
	})
}
