package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// reportLifetime is how long a report of the node's may wait for its block.
const reportLifetime = 10 * time.Minute

// reporter sends the node's own transactions, signed with its proxy key: the blob service's
// HoldsBlob reports, and the FragmentDestroyed reports the node owes once a grant it was a
// node of ends (its revocation receipts). They share one account, so one reporter keeps its
// sequence. It exists before the ledger opens, because the ledger's commit hook pokes it.
type reporter struct {
	n      *Node
	signer *umbral.Signer
	self   protocol.PubKey
	log    *slog.Logger

	mu  sync.Mutex // one transaction of the account in flight at a time
	seq uint64     // next sequence, as far as this node sent

	sentMu sync.Mutex
	sent   map[protocol.ID]time.Time // destruction reports admitted and not yet seen committed

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

func newReporter() *reporter {
	return &reporter{sent: make(map[protocol.ID]time.Time), wake: make(chan struct{}, 1)}
}

// onCommit wakes the reporter when the block ended grants; it never blocks the commit.
func (r *reporter) onCommit(next func(ledger.CommitInfo)) func(ledger.CommitInfo) {
	return func(ci ledger.CommitInfo) {
		if len(ci.Revoked) > 0 || len(ci.Expired) > 0 {
			r.poke()
		}
		if next != nil {
			next(ci)
		}
	}
}

func (r *reporter) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// report sends body as the node's next transaction and returns once the node's mempool took
// it (a goroutine waits for its block).
func (r *reporter) report(ctx context.Context, body protocol.Body) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		snap, e := r.n.app.Committed()
		if e != nil {
			return e
		}
		committed, e := snap.Sequence(r.self)
		chainID := snap.ChainID
		snap.Release()
		if e != nil {
			return e
		}
		r.seq = max(r.seq, committed)
		raw, e := protocol.Sealed(r.signer, chainID, r.seq, time.Now().Add(reportLifetime), body)
		if e != nil {
			return e
		}
		if err = r.n.broadcastBackground(ctx, raw); err == nil {
			r.seq++ // in a block it is spent, whatever its outcome
			return nil
		}
		if !errors.Is(err, protocol.ErrBadSequence) {
			return err
		}
		r.seq = 0 // a transaction the mempool dropped: take the committed sequence again
	}
	return err
}

// start runs the loop that sends what the node owes: after every block that ended grants,
// and every half minute in case a report was lost.
func (r *reporter) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		r.sendOwed(ctx)
		r.sendLost(ctx)
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
			case <-t.C:
			}
			r.sendOwed(ctx)
			r.sendLost(ctx)
		}
	}()
}

func (r *reporter) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}

// sendOwed reports destroying the fragments of ended grants this node owes a report for,
// once its vault no longer holds them: a deletion that failed keeps its grant out of the
// report until the vault's retry at a later commit succeeds.
func (r *reporter) sendOwed(ctx context.Context) {
	snap, err := r.n.app.Committed()
	if err != nil {
		return
	}
	owed, err := snap.OwedReports(r.self, 256)
	snap.Release()
	if err != nil {
		r.log.Error("reporter: listing owed reports", "err", err)
		return
	}
	now := time.Now()
	r.sentMu.Lock()
	for id, at := range r.sent {
		if now.Sub(at) > reportLifetime {
			delete(r.sent, id)
		}
	}
	r.sentMu.Unlock()
	for _, id := range owed {
		if ctx.Err() != nil {
			return
		}
		r.sentMu.Lock()
		_, sent := r.sent[id]
		r.sentMu.Unlock()
		if sent || r.n.px.vault.Has(id) {
			continue
		}
		err := r.report(ctx, &protocol.FragmentDestroyed{Grant: id})
		switch {
		case err == nil:
			r.sentMu.Lock()
			r.sent[id] = now
			r.sentMu.Unlock()
			r.log.Debug("reporter: fragment destruction reported", "grant", id.String())
		case errors.Is(err, protocol.ErrAlreadyExists):
		default:
			r.log.Warn("reporter: reporting a destroyed fragment", "grant", id.String(), "err", err)
		}
	}
}

// lostFile, under the home, marks a node whose data was wiped: the fragments it held are
// gone with its vault. PrepareRejoin writes it (the network's height then); the reporter
// removes it once it has reported them.
const lostFile = "data/fragments_lost"

// lostMargin keeps the newest grants out of a loss report: their owners may still be
// depositing, and this node, caught up, takes those deposits.
const lostMargin = 10

// sendLost, on a node that lost its data and has caught up with the network, reports holding
// no fragment of every grant that names it, has not ended, and whose fragment its vault lacks,
// so that owners and recipients see one fewer holder (ledger/SPEC.md, FragmentDestroyed).
func (r *reporter) sendLost(ctx context.Context) {
	path := filepath.Join(r.n.home, lostFile)
	if _, err := os.Stat(path); err != nil || r.n.cmt.ConsensusReactor().WaitSync() {
		return
	}
	snap, err := r.n.app.Committed()
	if err != nil {
		return // restored, and no block since: not yet
	}
	defer snap.Release()
	var after *protocol.ID
	reported := 0
	for {
		ids, err := snap.HeldBy(r.self, snap.Height-lostMargin, after, 256)
		if err != nil {
			r.log.Error("reporter: listing the grants whose fragments were lost", "err", err)
			return
		}
		for _, id := range ids {
			if ctx.Err() != nil {
				return
			}
			if r.n.px.vault.Has(id) {
				continue
			}
			if err := r.report(ctx, &protocol.FragmentDestroyed{Grant: id}); err != nil && !errors.Is(err, protocol.ErrAlreadyExists) {
				r.log.Warn("reporter: reporting a lost fragment", "grant", id.String(), "err", err)
				return // the file stays: the next round tries again
			}
			reported++
		}
		if len(ids) < 256 {
			break
		}
		after = &ids[len(ids)-1]
	}
	r.log.Info("reporter: reported holding no fragment of the grants this node's lost data held", "grants", reported)
	if err := os.Remove(path); err != nil {
		r.log.Error("reporter: removing the lost-fragments mark", "err", err)
	}
}

// Admit admits accounts on tier, as the node's operator: an Admit signed with the node's
// proxy key (the account its reports use, so one sequence), sent to its mempool. It returns
// once this node has committed it.
func (n *Node) Admit(ctx context.Context, tier uint8, keys ...protocol.PubKey) error {
	for len(keys) > 0 {
		batch := keys[:min(len(keys), protocol.MaxAdmitBatch)]
		keys = keys[len(batch):]
		if err := n.rep.report(ctx, &protocol.Admit{Tier: tier, Accounts: batch}); err != nil {
			return fmt.Errorf("node: admit: %w", err)
		}
		for {
			snap, err := n.app.Committed()
			if err != nil {
				return err
			}
			a, err := snap.Account(batch[len(batch)-1])
			snap.Release()
			if err == nil && a.Tier == tier {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("node: admit: %w", ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}
