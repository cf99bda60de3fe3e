package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
)

// honest is the patients and doctors: pairs of an owner and a recipient, each pair with its
// own two source addresses, admitted by a node's operator as a clinic onboards them.
type honest struct {
	e       *env
	size    int64
	pairs   []pair
	records atomic.Int64 // records put, over both runs
}

type pair struct {
	owner, recipient *client.Session
	recipientID      identity.Public
}

func newHonest(e *env, n int, size int64) (*honest, error) {
	h := &honest{e: e, size: size}
	var keys []protocol.PubKey
	for i := range n {
		var p pair
		for j, s := range []**client.Session{&p.owner, &p.recipient} {
			id, err := identity.Generate()
			if err != nil {
				return nil, err
			}
			if *s, err = client.New(e.desc, id, &client.Options{HTTP: e.client(100 + 2*i + j)}); err != nil {
				return nil, err
			}
			keys = append(keys, protocol.PubKeyOf(id.Public().Signing))
		}
		p.recipientID = p.recipient.Identity()
		h.pairs = append(h.pairs, p)
	}
	if err := e.nw.Node(0).Admit(e.ctx, protocol.TierMember, keys...); err != nil {
		return nil, err
	}
	return h, nil
}

// result is one run's figures.
type result struct {
	access  []time.Duration // recipient's Get: request committed, cfrags gathered, blob fetched, opened
	story   []time.Duration
	failed  int
	lastErr error
}

func (r *result) p50() time.Duration { return benchkit.Percentile(r.access, 0.5) }

func (r *result) print(name string, longestBlock gap) {
	pct := func(xs []time.Duration, p float64) time.Duration {
		return benchkit.Percentile(xs, p).Round(100 * time.Microsecond)
	}
	fmt.Printf("  %s: %d stories; access p50 %v p90 %v max %v; whole story p50 %v; longest block interval %v; %d failed",
		name, len(r.story), pct(r.access, 0.5), pct(r.access, 0.9), pct(r.access, 1), pct(r.story, 0.5),
		longestBlock, r.failed)
	if r.lastErr != nil {
		fmt.Printf(" (last: %v)", r.lastErr)
	}
	fmt.Println()
}

// run has every pair run the story until duration has passed.
func (h *honest) run(duration time.Duration) *result {
	stop := time.Now().Add(duration)
	var mu sync.Mutex
	res := &result{}
	var wg sync.WaitGroup
	for i := range h.pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				t0 := time.Now()
				access, err := h.story(&h.pairs[i], i)
				mu.Lock()
				if err != nil {
					res.failed++
					res.lastErr = err
				} else {
					res.access = append(res.access, access)
					res.story = append(res.story, time.Since(t0))
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(100 * time.Millisecond) // a failing network is not hammered
				}
			}
		}()
	}
	wg.Wait()
	return res
}

// story is put → grant → get → revoke; it returns how long the recipient's get took.
func (h *honest) story(p *pair, i int) (time.Duration, error) {
	ctx := h.e.ctx
	data := make([]byte, h.size)
	rand.Read(data)
	rec, err := p.owner.Put(ctx, bytes.NewReader(data), h.size, envelope.Metadata{Name: fmt.Sprintf("scan-%d.pdf", i), MediaType: "application/pdf", Size: h.size, Created: time.Now()})
	if err != nil {
		return 0, fmt.Errorf("put: %w", err)
	}
	h.records.Add(1)
	g, err := p.owner.Grant(ctx, rec, p.recipientID, client.GrantOptions{Duration: time.Hour, Purpose: "treatment"})
	if err != nil {
		return 0, fmt.Errorf("grant: %w", err)
	}
	var got bytes.Buffer
	t0 := time.Now()
	if _, err := p.recipient.Get(ctx, rec, &got, client.GetOptions{Purpose: "treatment"}); err != nil {
		return 0, fmt.Errorf("get: %w", err)
	}
	access := time.Since(t0)
	if !bytes.Equal(got.Bytes(), data) {
		return 0, errors.New("get: the bytes differ")
	}
	if _, err := p.owner.Revoke(ctx, g.Grant); err != nil {
		return 0, fmt.Errorf("revoke: %w", err)
	}
	return access, nil
}

// stored is what the honest records keep on each node, at most (every node holds every blob
// on a 4-node network), sealing overhead aside.
func (h *honest) stored() int64 { return h.records.Load() * h.size }
