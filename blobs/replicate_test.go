package blobs

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store/local"
)

// carCID is the CID a CAR request names, or "" for another route.
func carCID(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/blobs/")
	if !ok {
		return ""
	}
	c, ok := strings.CutSuffix(rest, "/car")
	if !ok {
		return ""
	}
	return c
}

// stallPeer wraps a real node's handler: a CAR request for a blob in junk gets a 200 and the
// start of a body, then nothing until the request ends, as a peer that stalls mid-transfer.
type stallPeer struct {
	junk    map[string]bool
	stalled atomic.Int64 // requests held now
}

func (p *stallPeer) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.junk[carCID(r)] {
			h.ServeHTTP(w, r)
			return
		}
		p.stalled.Add(1)
		defer p.stalled.Add(-1)
		w.Header().Set("Content-Type", "application/vnd.ipld.car; version=1")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte{0x3a}) // the first byte of a CAR header's length
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
}

// Hundreds of records name blobs nobody has, and the one peer stalls every fetch of them
// mid-body: the erasure of a real record still deletes its blob at once, while every fetch
// worker is still stuck.
func TestErasureNotBehindStalledFetches(t *testing.T) {
	peer := &stallPeer{junk: map[string]bool{}}
	nw := newNetwork(t, 2, func(i int, c *Config) {
		c.IdleTimeout = 10 * time.Minute // the stalls outlast the test
	}, func(i int, h http.Handler) http.Handler {
		if i == 1 {
			return peer.wrap(h)
		}
		return h
	})
	a := nw.nodes[0]
	o := newOwner(t)
	data := make([]byte, 600<<10)
	rand.Read(data)
	c := a.upload(t, o.id.Signer(), data)
	tx, rec := o.put(t, c, len(data))
	nw.commit(tx)

	var junk [][]byte
	for range 300 {
		j := junkCID()
		peer.junk[j.String()] = true
		tx, _ := o.put(t, j, 1024)
		junk = append(junk, tx)
	}
	nw.commit(junk...)
	eventually(t, "every fetch worker stalls", func() bool { return peer.stalled.Load() == DefaultWorkers })

	nw.commit(o.tx(t, &protocol.EraseRecord{Record: rec}))
	eventually(t, "the erased blob leaves the store", func() bool {
		has, err := a.svc.cfg.Store.Has(t.Context(), c)
		return err == nil && !has
	})
	if n := peer.stalled.Load(); n != DefaultWorkers {
		t.Fatalf("%d fetches still stalled; the erasure should not have waited for them", n)
	}
	resp, err := http.Get(a.url + "/v1/blobs/" + c.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("read after the erasure: HTTP %d", resp.StatusCode)
	}
}

// attempts records when a peer was asked for each CID's CAR.
type attempts struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (a *attempts) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := carCID(r); c != "" {
			a.mu.Lock()
			a.at[c] = append(a.at[c], time.Now())
			a.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (a *attempts) of(c cid.Cid) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.at[c.String()]...)
}

// A record whose blob nobody has is tried again after a pause that doubles with each
// failure; once its blob turns up it is fetched, and the record's backoff is forgotten.
func TestJunkRetriesBackOff(t *testing.T) {
	const base = 100 * time.Millisecond
	seen := &attempts{at: map[string][]time.Time{}}
	nw := newNetwork(t, 2, func(i int, c *Config) {
		c.RetryMin = base
	}, func(i int, h http.Handler) http.Handler {
		if i == 1 {
			return seen.wrap(h)
		}
		return h
	})
	a, b := nw.nodes[0], nw.nodes[1]
	o := newOwner(t)
	var cids []cid.Cid
	var txs [][]byte
	for range 50 {
		c := junkCID()
		tx, _ := o.put(t, c, 1024)
		cids, txs = append(cids, c), append(txs, tx)
	}
	late := make([]byte, 100<<10) // a blob that turns up later
	rand.Read(late)
	lateCID, _, _ := local.CID(bytes.NewReader(late))
	lateTx, lateRec := o.put(t, lateCID, len(late))
	nw.commit(append(txs, lateTx)...)

	const tries = 5
	eventually(t, "five attempts at each junk record", func() bool {
		for _, c := range cids {
			if len(seen.of(c)) < tries {
				return false
			}
		}
		return true
	})
	for _, c := range cids {
		at := seen.of(c)
		for k := 1; k < tries; k++ {
			// The k-th failure waits at least half of base·2^(k-1).
			if gap, least := at[k].Sub(at[k-1]), base<<(k-1)/2; gap < least {
				t.Fatalf("%s: attempt %d came %v after the one before, want at least %v", c, k+1, gap, least)
			}
		}
	}

	if len(seen.of(lateCID)) < 2 {
		eventually(t, "the late blob's record failed twice", func() bool { return len(seen.of(lateCID)) >= 2 })
	}
	b.upload(t, o.id.Signer(), late)
	eventually(t, "the late blob is fetched", func() bool {
		has, _ := a.svc.cfg.Store.Has(t.Context(), lateCID)
		return has
	})
	eventually(t, "its backoff is forgotten", func() bool {
		a.svc.q.mu.Lock()
		defer a.svc.q.mu.Unlock()
		return a.svc.q.failed[lateRec] == nil
	})
}

// TestRecordOfAnotherSizeIsNotKept: a record that declares less than its blob's size (its
// owner's allowance counts the declared size) is kept by no node, the one that took the
// upload included; a record that declares its size truly is kept by all.
func TestRecordOfAnotherSizeIsNotKept(t *testing.T) {
	nw := newNetwork(t, 2, nil, nil)
	a := nw.nodes[0]
	o := newOwner(t)
	blob := func() ([]byte, cid.Cid) {
		data := make([]byte, 300<<10)
		rand.Read(data)
		return data, a.upload(t, o.id.Signer(), data)
	}
	small, smallCID := blob()
	liar, _ := o.put(t, smallCID, len(small)/100)
	_, trueCID := blob()
	honest, _ := o.put(t, trueCID, len(small))
	nw.commit(liar, honest)
	holds := func(m *member, c cid.Cid) bool {
		has, err := m.svc.cfg.Store.Has(t.Context(), c)
		return err == nil && has
	}
	eventually(t, "both nodes hold the truly declared blob", func() bool {
		return holds(nw.nodes[0], trueCID) && holds(nw.nodes[1], trueCID)
	})
	eventually(t, "no node holds the blob declared smaller", func() bool {
		return !holds(nw.nodes[0], smallCID) && !holds(nw.nodes[1], smallCID)
	})

	// Where each blob is placed on one node of three, the nodes it is not placed on drop
	// their copies too (they wait for no report of the placed node).
	nw = newPlacedNetwork(t, 3, 1, nil, nil)
	o = newOwner(t)
	data := make([]byte, 300<<10)
	rand.Read(data)
	var c cid.Cid
	for _, m := range nw.nodes {
		c = m.upload(t, o.id.Signer(), data)
	}
	liar, _ = o.put(t, c, len(data)-1)
	nw.commit(liar)
	eventually(t, "no node of three holds the blob declared smaller", func() bool {
		return !holds(nw.nodes[0], c) && !holds(nw.nodes[1], c) && !holds(nw.nodes[2], c)
	})
}
