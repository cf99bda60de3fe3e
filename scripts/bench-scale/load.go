package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
)

// batch is how many records a pair puts and grants before its reader requests them: 2·batch
// transactions in flight stay under a node's limit per account (64).
const batch = 24

// A pair is an owner who puts records and grants each to the pair's reader, who requests
// access to them; a pair's accounts are its own, so the pairs load in parallel.
type pair struct {
	i      int
	owner  *benchkit.Account
	reader *benchkit.Account
	api    *client.API
	caps   []protocol.CapsuleBytes // a few capsules, reused: the ledger checks each, any will do
	dks    []protocol.PubKey
	grants []protocol.ID // this pair's grants, for the measurer
	recs   []protocol.ID
}

type loader struct {
	nw       *node.LocalNet
	rpc      *node.RPC
	chain    string
	nodes    []protocol.Node
	pairs    []*pair
	perGrant int // access requests by the reader per grant
	blobSize int

	nRecords, nRevoked, nExpiring, nRequests atomic.Int64
	txs, txsMark, resent                     atomic.Int64
}

func newLoader(ctx context.Context, nw *node.LocalNet, pairs, requests, blobSize int) (*loader, error) {
	desc, err := nw.Description()
	if err != nil {
		return nil, err
	}
	l := &loader{nw: nw, rpc: nw.RPC(), chain: nw.ChainID(), nodes: desc.Nodes, perGrant: requests, blobSize: blobSize}
	for i := range pairs {
		o, err := benchkit.NewAccount()
		if err != nil {
			return nil, err
		}
		r, err := benchkit.NewAccount()
		if err != nil {
			return nil, err
		}
		p := &pair{i: i, owner: o, reader: r,
			api: &client.API{HTTP: &http.Client{Transport: benchkit.From(http.DefaultTransport, i)}}}
		for range 4 {
			c, dk := protocoltest.Capsule()
			p.caps, p.dks = append(p.caps, c), append(p.dks, dk)
		}
		l.pairs = append(l.pairs, p)
	}
	return l, nil
}

func (l *loader) records() int64  { return l.nRecords.Load() }
func (l *loader) revoked() int64  { return l.nRevoked.Load() }
func (l *loader) expiring() int64 { return l.nExpiring.Load() }
func (l *loader) requests() int64 { return l.nRequests.Load() }

// txsSince is how many transactions were committed since the last call.
func (l *loader) txsSince() int64 {
	now := l.txs.Load()
	return now - l.txsMark.Swap(now)
}

// loadTo adds records (each with its grant, requests, and for one in eight a revocation,
// for another one in eight an end two minutes on) until there are total.
func (l *loader) loadTo(ctx context.Context, total int) error {
	more := total - int(l.records())
	if more <= 0 {
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	var progress sync.Mutex
	last := time.Now()
	for i, p := range l.pairs {
		n := more / len(l.pairs)
		if i < more%len(l.pairs) {
			n++
		}
		g.Go(func() error {
			for done := 0; done < n; done += batch {
				if err := l.loadBatch(ctx, p, min(batch, n-done)); err != nil {
					return fmt.Errorf("pair %d: %w", p.i, err)
				}
				progress.Lock()
				if time.Since(last) > 30*time.Second {
					last = time.Now()
					fmt.Printf("  … %d records, load %s\n", l.records(), benchkit.LoadAvg())
				}
				progress.Unlock()
			}
			return nil
		})
	}
	return g.Wait()
}

func (l *loader) loadBatch(ctx context.Context, p *pair, n int) error {
	var owner, reader [][]byte
	var grants []protocol.ID
	blob := make([]byte, l.blobSize)
	for k := range n {
		rand.Read(blob)
		node := l.nodes[(p.i+k)%len(l.nodes)]
		c, err := p.api.UploadBlob(ctx, node, l.chain, p.owner.ID.Signer(), bytes.NewReader(blob), int64(len(blob)))
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		rec := protocol.RecordID(l.chain, p.owner.PK, p.owner.Seq)
		raw, err := p.owner.Sign(l.chain, &protocol.PutRecord{CID: []byte(c.String()), Size: uint64(len(blob)),
			Capsule: p.caps[k%len(p.caps)], DelegatingKey: p.dks[k%len(p.dks)]})
		if err != nil {
			return err
		}
		owner = append(owner, raw)
		g := &protocol.Grant{Record: rec, OwnerEnc: protocol.PubKeyOf(p.owner.ID.Public().Receiving),
			RecipientSig: p.reader.PK, RecipientEnc: protocol.PubKeyOf(p.reader.ID.Public().Receiving), Purpose: "TREAT"}
		for j, nd := range l.nodes {
			g.Nodes = append(g.Nodes, protocol.GrantNode{Proxy: nd.ProxyKey, Commitment: protocol.Hash32{byte(j + 1)}})
		}
		if len(p.recs)%8 == 5 {
			g.NotAfter = time.Now().Add(2 * time.Minute).UnixNano()
			l.nExpiring.Add(1)
		}
		id := protocol.GrantID(l.chain, p.owner.PK, p.owner.Seq)
		if raw, err = p.owner.Sign(l.chain, g); err != nil {
			return err
		}
		owner = append(owner, raw)
		grants = append(grants, id)
		p.recs, p.grants = append(p.recs, rec), append(p.grants, id)
	}
	if err := l.submit(ctx, owner); err != nil {
		return err
	}
	l.nRecords.Add(int64(n))
	var revokes [][]byte
	for k, id := range grants {
		for range l.perGrant {
			raw, err := p.reader.Sign(l.chain, &protocol.RequestAccess{Grant: id, Purpose: "TREAT"})
			if err != nil {
				return err
			}
			reader = append(reader, raw)
		}
		if (len(p.recs)-n+k)%8 == 3 {
			raw, err := p.owner.Sign(l.chain, &protocol.Revoke{Grant: id})
			if err != nil {
				return err
			}
			revokes = append(revokes, raw)
		}
	}
	if err := l.submit(ctx, reader); err != nil {
		return err
	}
	l.nRequests.Add(int64(len(reader)))
	if err := l.submit(ctx, revokes); err != nil {
		return err
	}
	l.nRevoked.Add(int64(len(revokes)))
	return nil
}

// submit broadcasts one account's transactions in order, at most 60 waiting, coming back when
// a node paces the account, and waits until they are all committed successfully.
func (l *loader) submit(ctx context.Context, txs [][]byte) error {
	for len(txs) > 0 {
		chunk := txs[:min(60, len(txs))]
		txs = txs[len(chunk):]
		var pend []*node.Pending
		for _, raw := range chunk {
			p, err := l.rpc.Broadcast(ctx, raw)
			for i := 0; errors.Is(err, protocol.ErrRateLimited) && i < 1200; i++ {
				time.Sleep(50 * time.Millisecond)
				p, err = l.rpc.Broadcast(ctx, raw)
			}
			if err != nil {
				return err
			}
			pend = append(pend, p)
		}
		for i, p := range pend {
			_, err := p.Wait(ctx)
			switch {
			case errors.Is(err, protocol.ErrBadSequence):
				if err := l.again(ctx, chunk[i]); err != nil {
					return err
				}
			case errors.Is(err, protocol.ErrGrantExpired):
				// A request under one of the grants that end two minutes after they were
				// signed, committed later than that when the network is loaded: refused in its
				// block, its sequence spent, as it would be for any client.
			case err != nil:
				return err
			}
		}
		l.txs.Add(int64(len(chunk)))
	}
	return nil
}

// again settles a transaction that a block carried ahead of the one before it in its
// account's sequence (it failed there, unconsumed; seen under load): its later inclusion
// may already have succeeded, else it is sent again, as a client would.
func (l *loader) again(ctx context.Context, raw []byte) error {
	l.resent.Add(1)
	hash := protocol.TxHash(raw)
	var last error
	for start := time.Now(); time.Since(start) < 2*time.Minute; time.Sleep(500 * time.Millisecond) {
		if r, err := l.rpc.Committed(ctx, hash); err == nil && r.Code == 0 {
			return nil
		}
		// Sent again; a node pacing the account (it has others in flight) says come back.
		p, err := l.rpc.Broadcast(ctx, raw)
		if err == nil {
			if _, err = p.Wait(ctx); err == nil {
				return nil
			}
		}
		last = err
	}
	return fmt.Errorf("transaction %x: not committed successfully within 2 minutes: %w", hash[:8], last)
}
