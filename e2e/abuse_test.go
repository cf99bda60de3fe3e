package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/blobs"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
	"github.com/resilientrecords/resilientrecords/store/cidsum"
)

// TestHostileClients runs hostile clients against a real 4-node network with admission on:
// more grants expiring at one instant than a block may expire, junk records in front of an
// erasure, and uploads from keys nobody admitted and from self-enrolled ones.
func TestHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network")
	}
	w := startWorld(t)
	t.Run("a block's worth of expiries and more", w.expiries)
	t.Run("junk records in front of an erasure", w.junkBeforeErasure)
	t.Run("uploads from strangers and self-enrolled keys", w.hostileUploads)
	t.Run("deposit spam", w.depositSpam) // last: it spends this source's deposit budget
}

// depositSpam: junk deposits from one source are refused before their bodies are read once
// the source's burst is spent, and none is ever accepted.
func (w *world) depositSpam(t *testing.T) {
	w.t = t
	n := w.net.Nodes[2]
	body := bytes.Repeat([]byte{'x'}, 700)
	limited := 0
	for i := range 100 {
		var g protocol.ID
		rand.Read(g[:])
		resp, err := http.Post(n.URL()+"/v1/grants/"+g.String()+"/fragment", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			t.Fatalf("junk deposit %d accepted", i)
		case resp.StatusCode == http.StatusTooManyRequests:
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("100 junk deposits from one source were never paced")
	}
}

// members makes n accounts a registry node's operator admitted.
func (w *world) members(n int) []*protocoltest.Account {
	accts := protocoltest.NewAccounts(w.net.ChainID, n)
	if err := w.nw.Node(0).Admit(w.ctx, protocol.TierMember, protocoltest.Keys(accts)...); err != nil {
		w.t.Fatal(err)
	}
	return accts
}

// submitAll broadcasts each account's transactions in order, a few in flight, and waits for
// them all to commit successfully.
func (w *world) submitAll(txs [][][]byte) {
	rpc := w.nw.RPC()
	var wg sync.WaitGroup
	errs := make(chan error, len(txs))
	for _, list := range txs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pend []*node.Pending
			for _, raw := range list {
				p, err := rpc.Broadcast(w.ctx, raw)
				for i := 0; errors.Is(err, protocol.ErrRateLimited) && i < 600; i++ {
					time.Sleep(50 * time.Millisecond) // the mempool's pace per account
					p, err = rpc.Broadcast(w.ctx, raw)
				}
				if err != nil {
					errs <- err
					return
				}
				pend = append(pend, p)
			}
			for _, p := range pend {
				if _, err := p.Wait(w.ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		w.t.Fatal(err)
	}
}

// expiries: 10 000 grants end at one instant; the ledger expires at most 1000 a block, so it
// takes ten blocks, and no interval between blocks grows past 3 s.
func (w *world) expiries(t *testing.T) {
	w.t = t
	const grants, owners = 10000, 50 // each owner within its burst at the mempool's pace
	accts := w.members(owners)
	var nodes []protocol.PubKey
	for _, n := range w.net.Nodes {
		nodes = append(nodes, n.ProxyKey)
	}
	puts := make([][][]byte, owners)
	for i, a := range accts {
		puts[i] = append(puts[i], a.Next(protocoltest.PutRecord(junkCID(t), 1024)))
	}
	w.submitAll(puts)
	notAfter := time.Now().Add(60 * time.Second)
	txs := make([][][]byte, owners)
	var ids []protocol.ID
	for i, a := range accts {
		rec := protocol.RecordID(w.net.ChainID, a.Key, 0)
		for range grants / owners {
			g := protocoltest.Grant(rec, a.Key, nodes, notAfter.UnixNano())
			ids = append(ids, a.GrantID())
			txs[i] = append(txs[i], a.Next(g))
		}
	}
	w.submitAll(txs)
	if time.Now().After(notAfter) {
		t.Fatalf("the grants took past their end to commit")
	}
	n := w.nw.Node(0)
	var mu sync.Mutex
	var seen []time.Time // when node 0 committed each block, from before the end
	watching := make(chan struct{})
	go func() {
		for last := n.Height(); ; time.Sleep(10 * time.Millisecond) {
			select {
			case <-watching:
				return
			default:
			}
			if h := n.Height(); h > last {
				last = h
				mu.Lock()
				seen = append(seen, time.Now())
				mu.Unlock()
			}
		}
	}()
	expired := func() bool {
		snap, err := n.App().Committed()
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Release()
		for _, id := range ids {
			if g, err := snap.Grant(id); err != nil || !g.Expired {
				return false
			}
		}
		return true
	}
	for !expired() {
		if time.Since(notAfter) > 2*time.Minute {
			t.Fatal("the grants had not all expired 2 minutes after their end")
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(watching)
	snap, err := n.App().Committed()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	blocks := map[int64]int{}
	for _, id := range ids {
		g, err := snap.Grant(id)
		if err != nil || !g.Expired {
			t.Fatalf("grant %s: %+v, %v", id, g, err)
		}
		blocks[g.ExpiredHeight]++
	}
	for h, k := range blocks {
		if k > ledger.MaxExpiriesPerBlock {
			t.Fatalf("block %d expired %d grants", h, k)
		}
	}
	if len(blocks) < (grants+ledger.MaxExpiriesPerBlock-1)/ledger.MaxExpiriesPerBlock {
		t.Fatalf("the expiries took %d blocks: %v", len(blocks), blocks)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(seen); i++ {
		if d := seen[i].Sub(seen[i-1]); d > 3*time.Second {
			t.Fatalf("%v between two blocks while the grants expired", d)
		}
	}
}

// junkBeforeErasure: records naming blobs nobody has, committed just before an owner erases
// a record of their own; every node still deletes the erased blob promptly.
func (w *world) junkBeforeErasure(t *testing.T) {
	w.t = t
	alice := w.session(newIdentity(t))
	data := make([]byte, 256<<10)
	rand.Read(data)
	rec, err := alice.Put(w.ctx, bytes.NewReader(data), int64(len(data)), envelope.Metadata{Name: "x-ray.dcm", Size: int64(len(data)), Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	w.waitHeld(alice, rec)
	r, err := alice.Record(w.ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	mallory := w.members(1)[0]
	var junk [][]byte
	for range 200 {
		junk = append(junk, mallory.Next(protocoltest.PutRecord(junkCID(t), 1<<20)))
	}
	w.submitAll([][][]byte{junk})
	if err := alice.Erase(w.ctx, rec); err != nil {
		t.Fatal(err)
	}
	c, err := cid.Decode(string(r.CID))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		held := 0
		for _, n := range w.nw.Running() {
			if has, err := n.BlobStore().Has(w.ctx, c); err != nil || has {
				held++
			}
		}
		if held == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d nodes still hold the erased blob 30 s after the erasure, behind 200 junk records", held)
		}
	}
}

// hostileUploads: a key nobody admitted may not upload to any node; a self-enrolled key's
// uploads are paced in bytes, so that of two large ones sent at once one is refused; an
// account a registry node's operator admitted is not paced.
func (w *world) hostileUploads(t *testing.T) {
	w.t = t
	upload := func(who *protocoltest.Account, n protocol.Node, size int) (int, string) {
		auth, err := protocol.SignUpload(who.Signer, w.net.ChainID, n.ProxyKey, int64(size), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, size)
		rand.Read(body)
		req, _ := http.NewRequestWithContext(w.ctx, http.MethodPost, n.URL()+"/v1/blobs", bytes.NewReader(body))
		auth.SetHeaders(req.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			return resp.StatusCode, ""
		}
		err = protocol.ReadAnswer(resp, 1<<16, nil)
		if e := protocol.ErrorOf(err); e != nil {
			return resp.StatusCode, e.Code
		}
		return resp.StatusCode, err.Error()
	}
	stranger := protocoltest.NewAccount(w.net.ChainID)
	for _, n := range w.net.Nodes {
		if code, name := upload(stranger, n, 1024); code != http.StatusForbidden || name != "not_admitted" {
			t.Fatalf("%s took a stranger's upload: %d %s", n.Name, code, name)
		}
	}
	self := protocoltest.NewAccount(w.net.ChainID)
	nonce, err := protocol.SolveEnrol(w.ctx, w.net.ChainID, self.Key, int(node.LocalAdmission.EnrolBits))
	if err != nil {
		t.Fatal(err)
	}
	w.submitAll([][][]byte{{self.Next(&protocol.Enrol{Nonce: nonce})}})
	const big = blobs.DefaultSelfUploadBurst + 1<<20 // more than a self-enrolled account's burst
	target := w.net.Nodes[1]
	w.admittedAt(w.nw.Node(1), self.Key) // the enrolment committed at node 0 first
	codes := make([]string, 2)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, name := upload(self, target, big)
			codes[i] = fmt.Sprintf("%d %s", code, name)
		}()
	}
	wg.Wait()
	if !(codes[0] == "201 " && codes[1] == "429 rate_limited" || codes[1] == "201 " && codes[0] == "429 rate_limited") {
		t.Fatalf("two large uploads at once by a self-enrolled account: %v", codes)
	}
	member := w.members(1)[0]
	w.admittedAt(w.nw.Node(1), member.Key)
	for i := range 2 {
		if code, name := upload(member, target, big); code != http.StatusCreated {
			t.Fatalf("a member's upload %d: %d %s", i, code, name)
		}
	}
}

// admittedAt waits until n's committed state holds account key.
func (w *world) admittedAt(n *node.Node, key protocol.PubKey) {
	w.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		snap, err := n.App().Committed()
		if err != nil {
			w.t.Fatal(err)
		}
		_, err = snap.Account(key)
		snap.Release()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("account %s not admitted at %s after 30 s: %v", key, n.ID(), err)
		}
	}
}

// junkCID names a blob nobody has.
func junkCID(t *testing.T) string {
	b := make([]byte, 64)
	rand.Read(b)
	c, _, err := cidsum.Sum(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return c.String()
}
