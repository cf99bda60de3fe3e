package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// One 4-validator network serves every subtest below, in order: starting
// one costs seconds on a small machine.

type hashLog struct {
	mu sync.Mutex
	by map[int64]map[int][]byte // height -> node -> app hash
	ci []ledger.CommitInfo      // node 0's commits
}

func (h *hashLog) record(i int, ci ledger.CommitInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.by[ci.Height] == nil {
		h.by[ci.Height] = make(map[int][]byte)
	}
	h.by[ci.Height][i] = ci.AppHash
	if i == 0 {
		h.ci = append(h.ci, ci)
	}
}

// check fails if two nodes computed different app hashes at any height.
func (h *hashLog) check(t *testing.T) int {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for height, m := range h.by {
		var first []byte
		for node, hash := range m {
			if first == nil {
				first = hash
			} else if !bytes.Equal(first, hash) {
				t.Fatalf("height %d: node %d app hash %x differs from %x", height, node, hash, first)
			}
		}
	}
	return len(h.by)
}

type acct struct {
	signer *umbral.Signer
	pk     protocol.PubKey
	seq    uint64
}

func newAcct(t *testing.T) *acct {
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	s := umbral.NewSigner(sk)
	return &acct{signer: s, pk: protocol.PubKeyOf(s.VerifyingKey())}
}

func (a *acct) sign(t *testing.T, chain string, seq uint64, body protocol.Body) []byte {
	tx := &protocol.Tx{ChainID: chain, Sequence: seq, Expires: time.Now().Add(10 * time.Minute).UnixNano(), Body: body}
	if err := tx.Sign(a.signer); err != nil {
		t.Fatal(err)
	}
	return tx.Encode()
}

type env struct {
	t     *testing.T
	nw    *LocalNet
	ctx   context.Context
	nodes []protocol.PubKey
}

// submit signs body as a's next tx, submits it and requires success.
func (e *env) submit(a *acct, body protocol.Body) *Committed {
	e.t.Helper()
	r, err := e.nw.RPC().Submit(e.ctx, a.sign(e.t, e.nw.ChainID(), a.seq, body))
	if err != nil {
		e.t.Fatalf("%s: %v", body.Type(), err)
	}
	a.seq++
	return r
}

// refused submits raw and requires that it fails with want, in CheckTx or
// in the block.
func (e *env) refused(raw []byte, want error) {
	e.t.Helper()
	_, err := e.nw.RPC().Submit(e.ctx, raw)
	if !errors.Is(err, want) {
		e.t.Fatalf("got %v, want %v", err, want)
	}
}

func (e *env) query(path string, out any) {
	e.t.Helper()
	if _, err := e.nw.RPC().Query(e.ctx, path, out); err != nil {
		e.t.Fatalf("query %s: %v", path, err)
	}
}

func (e *env) putRecord(owner *acct) protocol.ID {
	sk, _ := umbral.GenerateSecretKey()
	c, _, err := umbral.Encrypt(sk.PublicKey(), []byte("file key"))
	if err != nil {
		e.t.Fatal(err)
	}
	cb, _ := c.MarshalBinary()
	body := &protocol.PutRecord{CID: []byte("bafkreitest"), Size: 1234, DelegatingKey: protocol.PubKeyOf(sk.PublicKey())}
	copy(body.Capsule[:], cb)
	id := protocol.RecordID(e.nw.ChainID(), owner.pk, owner.seq)
	e.submit(owner, body)
	return id
}

func (e *env) grant(record protocol.ID, to *acct, notAfter time.Time) *protocol.Grant {
	g := &protocol.Grant{Record: record, OwnerEnc: to.pk, RecipientSig: to.pk, RecipientEnc: to.pk, Purpose: "treatment"}
	if !notAfter.IsZero() {
		g.NotAfter = notAfter.UnixNano()
	}
	for i, n := range e.nodes {
		g.Nodes = append(g.Nodes, protocol.GrantNode{Proxy: n, Commitment: [32]byte{byte(i + 1)}})
	}
	return g
}

func TestNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hl := &hashLog{by: make(map[int64]map[int][]byte)}
	nw, err := StartLocalNet(ctx, t.TempDir(), LocalNetOptions{OnCommit: hl.record})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Stop() })
	e := &env{t: t, nw: nw, ctx: ctx}
	var reg []protocol.Node
	e.query("/nodes", &reg)
	if len(reg) != 4 {
		t.Fatalf("registry has %d nodes", len(reg))
	}
	for _, n := range reg {
		e.nodes = append(e.nodes, n.ProxyKey)
	}
	owner, doc, stranger := newAcct(t), newAcct(t), newAcct(t)
	var record, grantID protocol.ID

	t.Run("flow and queries", func(t *testing.T) {
		e.t = t
		record = e.putRecord(owner)
		grantID = protocol.GrantID(nw.ChainID(), owner.pk, owner.seq)
		r := e.submit(owner, e.grant(record, doc, time.Time{}))
		e.submit(doc, &protocol.RequestAccess{Grant: grantID, Purpose: "consultation"})

		var rec protocol.Record
		e.query("/record/"+record.String(), &rec)
		if rec.Owner != owner.pk || rec.Size != 1234 {
			t.Fatalf("record %+v", rec)
		}
		var g protocol.GrantState
		e.query("/grant/"+grantID.String(), &g)
		if g.Threshold != 3 || g.Height != r.Height || g.Revoked {
			t.Fatalf("grant %+v committed at %d", g, r.Height)
		}
		var recs protocol.Page[*protocol.Record]
		e.query("/records/owner/"+owner.pk.String(), &recs)
		var byRec, byRecipient protocol.Page[*protocol.GrantState]
		e.query("/grants/record/"+record.String(), &byRec)
		e.query("/grants/recipient/"+doc.pk.String(), &byRecipient)
		if len(recs.Items) != 1 || len(byRec.Items) != 1 || len(byRecipient.Items) != 1 || byRec.Items[0].ID != grantID {
			t.Fatalf("lists: %d records, %d grants of record, %d grants to recipient", len(recs.Items), len(byRec.Items), len(byRecipient.Items))
		}
		var acct struct{ Sequence uint64 }
		if _, err := nw.RPC().Query(ctx, "/account/"+owner.pk.String(), &acct); err != nil || acct.Sequence != owner.seq {
			seq := acct.Sequence
			t.Fatalf("sequence %d, %v; want %d", seq, err, owner.seq)
		}
		if _, err := nw.RPC().Query(ctx, "/record/"+protocol.ID{1}.String(), nil); !errors.Is(err, protocol.ErrNotFound) {
			t.Fatalf("missing record: %v", err)
		}
		if _, err := nw.RPC().Query(ctx, "/record/zz", nil); !errors.Is(err, protocol.ErrMalformed) {
			t.Fatalf("bad id: %v", err)
		}
	})

	t.Run("paging", func(t *testing.T) {
		e.t = t
		for i := 0; i < 2; i++ {
			e.submit(owner, e.grant(record, stranger, time.Time{}))
		}
		var p protocol.Page[*protocol.GrantState]
		e.query("/grants/record/"+record.String()+"?limit=2", &p)
		if len(p.Items) != 2 || p.Next != 2 {
			t.Fatalf("page 1: %d items, next %d", len(p.Items), p.Next)
		}
		e.query(fmt.Sprintf("/grants/record/%s?start=%d&limit=2", record, p.Next), &p)
		if len(p.Items) != 1 || p.Next != -1 {
			t.Fatalf("page 2: %d items, next %d", len(p.Items), p.Next)
		}
	})

	t.Run("authorisation failures", func(t *testing.T) {
		e.t = t
		chain := nw.ChainID()
		e.refused(stranger.sign(t, chain, stranger.seq, e.grant(record, stranger, time.Time{})), protocol.ErrUnauthorized)
		e.refused(stranger.sign(t, chain, stranger.seq, &protocol.Revoke{Grant: grantID}), protocol.ErrUnauthorized)
		e.refused(owner.sign(t, chain, owner.seq, &protocol.RequestAccess{Grant: grantID}), protocol.ErrUnauthorized)
		e.refused(doc.sign(t, "another-chain", doc.seq, &protocol.RequestAccess{Grant: grantID}), protocol.ErrWrongChain)
		e.refused(doc.sign(t, chain, doc.seq-1, &protocol.RequestAccess{Grant: grantID, Purpose: "again"}), protocol.ErrBadSequence)
		bad := doc.sign(t, chain, doc.seq, &protocol.RequestAccess{Grant: grantID})
		bad[len(bad)-2] ^= 0x40
		e.refused(bad, protocol.ErrBadSignature)
		e.refused([]byte{1, 2, 3}, protocol.ErrMalformed)
		// The exact bytes of a committed tx are refused too (mempool cache
		// or sequence).
		raw := doc.sign(t, chain, doc.seq, &protocol.RequestAccess{Grant: grantID})
		if _, err := nw.RPC().Submit(ctx, raw); err != nil {
			t.Fatal(err)
		}
		doc.seq++
		if _, err := nw.RPC().Submit(ctx, raw); err == nil {
			t.Fatal("replayed tx accepted")
		}
	})

	t.Run("revoke", func(t *testing.T) {
		e.t = t
		r := e.submit(owner, &protocol.Revoke{Grant: grantID})
		e.refused(doc.sign(t, nw.ChainID(), doc.seq, &protocol.RequestAccess{Grant: grantID}), protocol.ErrGrantRevoked)
		hl.mu.Lock()
		found := false
		for _, ci := range hl.ci {
			if ci.Height == r.Height && len(ci.Revoked) == 1 && ci.Revoked[0] == grantID {
				found = true
			}
		}
		hl.mu.Unlock()
		if !found {
			t.Fatal("OnCommit did not report the revocation")
		}
	})

	t.Run("expiry", func(t *testing.T) {
		e.t = t
		gid := protocol.GrantID(nw.ChainID(), owner.pk, owner.seq)
		notAfter := time.Now().Add(1500 * time.Millisecond)
		e.submit(owner, e.grant(record, doc, notAfter))
		e.submit(doc, &protocol.RequestAccess{Grant: gid, Purpose: "before expiry"})
		// Block time is BFT time (the median of the previous block's commit
		// votes), so wait for a committed block whose time is past the
		// deadline; the empty-block interval keeps blocks coming.
		waitFor(t, ctx, func() bool {
			_, blockTime, _ := nw.Node(0).App().LastCommit()
			return blockTime >= notAfter.UnixNano()
		})
		e.refused(doc.sign(t, nw.ChainID(), doc.seq, &protocol.RequestAccess{Grant: gid}), protocol.ErrGrantExpired)
		var g protocol.GrantState
		e.query("/grant/"+gid.String(), &g)
		if !g.Expired {
			// The expiry is marked by the first block past the deadline.
			e.submit(owner, e.grant(record, stranger, time.Time{}))
			e.query("/grant/"+gid.String(), &g)
		}
		if !g.Expired || g.ExpiredHeight == 0 {
			t.Fatalf("grant not marked expired: %+v", g)
		}
		hl.mu.Lock()
		hooked := false
		for _, ci := range hl.ci {
			for _, x := range ci.Expired {
				hooked = hooked || (x.Grant == gid && x.Record == record && ci.Height == g.ExpiredHeight)
			}
		}
		hl.mu.Unlock()
		if !hooked {
			t.Fatal("OnCommit did not report the expiry")
		}
		var log protocol.Page[protocol.AuditEntry]
		e.query("/audit/"+record.String(), &log)
		kinds := map[string]int{}
		for _, a := range log.Items {
			kinds[a.Kind]++
		}
		if kinds[protocol.AuditPut] != 1 || kinds[protocol.AuditRevoke] != 1 || kinds[protocol.AuditExpire] != 1 || kinds[protocol.AuditRequest] < 3 {
			t.Fatalf("audit log kinds %v", kinds)
		}
	})

	t.Run("one node down", func(t *testing.T) {
		e.t = t
		if err := nw.StopNode(3); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			e.submit(owner, e.grant(record, doc, time.Time{}))
		}
		if err := nw.RestartNode(3); err != nil {
			t.Fatal(err)
		}
		h := nw.Node(0).Height()
		if err := nw.WaitHeight(ctx, h); err != nil {
			t.Fatal(err)
		}
		_, _, want := nw.Node(0).App().LastCommit()
		waitFor(t, ctx, func() bool {
			hh, _, got := nw.Node(3).App().LastCommit()
			return hh >= h && (hh > h || bytes.Equal(got, want))
		})
	})

	t.Run("whole network restart", func(t *testing.T) {
		e.t = t
		before, _, beforeHash := nw.Node(0).App().LastCommit()
		if err := nw.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		after, _, afterHash := nw.Node(0).App().LastCommit()
		if after < before || (after == before && !bytes.Equal(afterHash, beforeHash)) {
			t.Fatalf("state after restart at %d %x, before at %d %x", after, afterHash, before, beforeHash)
		}
		var rec protocol.Record
		e.query("/record/"+record.String(), &rec)
		e.submit(owner, e.grant(record, doc, time.Time{}))
	})

	if n := hl.check(t); n < 10 {
		t.Fatalf("only %d heights compared", n)
	}
}

func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not reached")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
