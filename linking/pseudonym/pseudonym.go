// Package pseudonym derives, from a party's key ring, everything linkd keeps
// in place of a phone number: for each account and key epoch,
//
//   - two hash indexes, HMAC-SHA256(k_idx, SHA-256(canonical)), one for the
//     digits convention (PHONE_SHA256) and one for the E.164 convention
//     (PHONE_E164_SHA256 and its base64 form), to match hashed uploads;
//   - the OPRF output F(k_oprf, e164) (RFC 9497), to match private uploads;
//   - the link element k_link*H(e164), for PSI with the other party.
//
// The number itself is dropped as soon as these are computed; none of them
// can be reversed or tested against a candidate number without the keys.
package pseudonym

import (
	"crypto/sha256"
	"fmt"
	"strconv"

	"github.com/linkd/linkd/crypto/hashindex"
	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/phone"
)

// Set is the pseudonyms of one number under one epoch.
type Set struct {
	IndexDigits hashindex.Index
	IndexE164   hashindex.Index
	OPRF        [oprf.OutputSize]byte
	Link        psi.Element
}

// Deriver holds one epoch's purpose keys.
type Deriver struct {
	Epoch uint32
	index hashindex.Key
	oprf  *oprf.Server
	link  psi.Key
}

// OPRFInfo is the RFC 9497 DeriveKeyPair info string of an epoch's OPRF key.
func OPRFInfo(epoch uint32) []byte {
	return []byte("linkd oprf key epoch " + strconv.FormatUint(uint64(epoch), 10))
}

// NewDeriver derives the purpose keys of the given epoch of r.
func NewDeriver(r *keys.Ring, epoch uint32) (*Deriver, error) {
	ik, err := r.Key(keys.PurposeHashIndex, epoch)
	if err != nil {
		return nil, err
	}
	ok, err := r.Key(keys.PurposeOPRF, epoch)
	if err != nil {
		return nil, err
	}
	lk, err := r.Key(keys.PurposeLink, epoch)
	if err != nil {
		return nil, err
	}
	d := &Deriver{Epoch: epoch}
	if d.index, err = hashindex.NewKey(ik.Expose()); err != nil {
		return nil, fmt.Errorf("pseudonym: %w", err)
	}
	if d.oprf, err = oprf.NewServer(ok.Expose(), OPRFInfo(epoch)); err != nil {
		return nil, fmt.Errorf("pseudonym: %w", err)
	}
	if d.link, err = psi.NewKey(lk.Expose()); err != nil {
		return nil, fmt.Errorf("pseudonym: %w", err)
	}
	return d, nil
}

// OPRF returns the epoch's OPRF server, for evaluating advertisers' blinded
// elements and publishing the public key.
func (d *Deriver) OPRF() *oprf.Server { return d.oprf }

// LinkKey returns the epoch's PSI key.
func (d *Deriver) LinkKey() psi.Key { return d.link }

// IndexKey returns the epoch's hash index key.
func (d *Deriver) IndexKey() hashindex.Key { return d.index }

// DeriveBatch computes the pseudonyms of every number, the group operations
// on all cores.
func (d *Deriver) DeriveBatch(ns []phone.Number) ([]Set, error) {
	out := make([]Set, len(ns))
	e164 := make([][]byte, len(ns))
	h := d.index.NewHasher()
	for i, n := range ns {
		e164[i] = []byte(n.E164())
		dig := sha256.Sum256([]byte(n.Digits()))
		e := sha256.Sum256(e164[i])
		out[i].IndexDigits = h.Sum(&dig)
		out[i].IndexE164 = h.Sum(&e)
	}
	outs, err := d.oprf.FullEvaluateBatch(e164)
	if err != nil {
		return nil, fmt.Errorf("pseudonym: %w", err)
	}
	links := d.link.BlindBatch(e164)
	for i := range out {
		copy(out[i].OPRF[:], outs[i])
		out[i].Link = links[i]
	}
	return out, nil
}
