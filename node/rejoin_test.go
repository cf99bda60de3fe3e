package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// TestRejoin measures how long a validator stopped and restarted in-process
// takes to be back in consensus, in the shape of the e2e test "quorum lost
// during a revoke":
//
//   - plain: one of four validators stops for a few seconds and restarts;
//     timed until its votes reach a running peer again;
//   - quorum: with one validator already down a second one stops (no
//     quorum), a transaction is broadcast to a running node, and after
//     ~9 s the second validator restarts; timed until the transaction
//     commits.
//
// REJOIN_LOG=path writes every node's log (CometBFT Info and up; with
// REJOIN_LOG_LEVEL=-8 also CometBFT Debug) there, with timestamps.
func TestRejoin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	lg := rejoinLogger(t)
	nw, err := StartLocalNet(ctx, t.TempDir(), LocalNetOptions{Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Stop() })
	start := time.Now()
	mark := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		lg.Info("REJOIN "+msg, "t", time.Since(start).Round(time.Millisecond).String())
		t.Logf("%8.3fs %s", time.Since(start).Seconds(), msg)
	}
	note := func(format string, args ...any) {
		lg.Info("REJOIN "+fmt.Sprintf(format, args...), "t", time.Since(start).Round(time.Millisecond).String())
	}
	stopWatch := watchPeers(nw, note)
	defer stopWatch()

	owner := newAcct(t)
	var ownerMu sync.Mutex
	// put broadcasts one small transaction through node via and returns it
	// pending.
	put := func(via int) (*Pending, error) {
		ownerMu.Lock()
		defer ownerMu.Unlock()
		sk, _ := umbral.GenerateSecretKey()
		c, _, err := umbral.Encrypt(sk.PublicKey(), []byte("file key"))
		if err != nil {
			return nil, err
		}
		cb, _ := c.MarshalBinary()
		body := &protocol.PutRecord{CID: []byte("bafkreirejoin"), Size: 1, DelegatingKey: protocol.PubKeyOf(sk.PublicKey())}
		copy(body.Capsule[:], cb)
		p, err := nw.Node(via).RPC().Broadcast(ctx, owner.sign(t, nw.ChainID(), owner.seq, body))
		if err == nil {
			owner.seq++
		}
		return p, err
	}
	if p, err := put(0); err != nil {
		t.Fatal(err)
	} else if _, err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	var plain, quorum time.Duration

	t.Run("plain", func(t *testing.T) {
		// Keep blocks coming (one transaction every 300 ms through node 0).
		feed, stopFeed := context.WithCancel(ctx)
		var fed sync.WaitGroup
		fed.Add(1)
		go func() {
			defer fed.Done()
			for feed.Err() == nil {
				if p, err := put(0); err == nil {
					_, _ = p.Wait(feed)
				}
				select {
				case <-feed.Done():
				case <-time.After(300 * time.Millisecond):
				}
			}
		}()
		defer func() { stopFeed(); fed.Wait() }()

		pk, err := nw.Node(3).cmt.PrivValidator().GetPubKey()
		if err != nil {
			t.Fatal(err)
		}
		mark("plain: stopping node 3")
		if err := nw.StopNode(3); err != nil {
			t.Fatal(err)
		}
		mark("plain: node 3 stopped")
		time.Sleep(3 * time.Second)
		h0 := nw.Node(0).Height()
		votes := voteWatch(ctx, t, nw.Node(0), pk.Address(), h0)
		mark("plain: restarting node 3 at height %d", h0)
		t0 := time.Now()
		if err := nw.RestartNode(3); err != nil {
			t.Fatal(err)
		}
		mark("plain: node 3 restarted (open+start took %v)", time.Since(t0).Round(time.Millisecond))
		hctx, hcancel := context.WithTimeout(ctx, rejoinWait)
		defer hcancel()
		if err := nw.WaitHeight(hctx, h0); err != nil {
			t.Fatal(err)
		}
		mark("plain: node 3 has height %d after %v", h0, time.Since(t0).Round(time.Millisecond))
		select {
		case h := <-votes:
			plain = time.Since(t0)
			mark("plain: node 0 got node 3's vote for height %d, %v after the restart", h, plain.Round(time.Millisecond))
		case <-time.After(rejoinWait):
			t.Fatalf("node 3's votes not back %v after the restart", rejoinWait)
		}
		if plain > rejoinBound {
			t.Errorf("node 3 took %v to vote again, want at most %v", plain, rejoinBound)
		}
	})

	t.Run("quorum", func(t *testing.T) {
		mark("quorum: stopping node 0")
		if err := nw.StopNode(0); err != nil {
			t.Fatal(err)
		}
		// Node 0 stays down, as in the e2e test, where it stopped a
		// subtest earlier.
		if p, err := put(2); err != nil {
			t.Fatal(err)
		} else if _, err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		mark("quorum: stopping node 1")
		if err := nw.StopNode(1); err != nil {
			t.Fatal(err)
		}
		mark("quorum: node 1 stopped; broadcasting through node 2")
		p, err := put(2)
		if err != nil {
			t.Fatal(err)
		}
		rounds := watchRounds(ctx, nw.Node(2), note)
		defer rounds()
		time.Sleep(protocol.CommitTimeout + 2*time.Second)
		mark("quorum: restarting node 1")
		t0 := time.Now()
		if err := nw.RestartNode(1); err != nil {
			t.Fatal(err)
		}
		mark("quorum: node 1 restarted (open+start took %v)", time.Since(t0).Round(time.Millisecond))
		wctx, wcancel := context.WithTimeout(ctx, rejoinWait)
		defer wcancel()
		r, err := p.Wait(wctx)
		if err != nil {
			t.Fatalf("transaction not committed %v after the restart: %v", time.Since(t0), err)
		}
		quorum = time.Since(t0)
		mark("quorum: transaction committed at height %d, %v after the restart", r.Height, quorum.Round(time.Millisecond))
		if quorum > rejoinBound {
			t.Errorf("the transaction took %v to commit after the restart, want at most %v", quorum, rejoinBound)
		}
	})

	t.Logf("REJOIN plain=%.3fs quorum=%.3fs", plain.Seconds(), quorum.Seconds())
}

// rejoinBound is generous: on a quiet machine both cases take 1 to 5 s
// (block sync alone waits 3 s before it asks for blocks and checks once a
// second whether it may switch to consensus). A running node that kept a
// stale connection to the stopped one used to make it take up to 105 s.
// rejoinWait is how long the test measures before it gives up.
const (
	rejoinBound = 30 * time.Second
	rejoinWait  = 120 * time.Second
)

// rejoinLogger logs to $REJOIN_LOG if set.
func rejoinLogger(t *testing.T) *slog.Logger {
	path := os.Getenv("REJOIN_LOG")
	if path == "" {
		return slog.New(slog.DiscardHandler)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	level := slog.LevelDebug
	if v := os.Getenv("REJOIN_LOG_LEVEL"); v != "" {
		var l int
		fmt.Sscan(v, &l)
		level = slog.Level(l)
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level}))
}

// voteWatch reports the height of the first vote by addr above height h
// that node n receives.
func voteWatch(ctx context.Context, t *testing.T, n *Node, addr types.Address, h int64) <-chan int64 {
	sub, err := n.cmt.EventBus().Subscribe(ctx, fmt.Sprintf("rejoin-votes-%d", time.Now().UnixNano()), types.EventQueryVote, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan int64, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Canceled():
				return
			case m := <-sub.Out():
				v, ok := m.Data().(types.EventDataVote)
				if ok && v.Vote.ValidatorAddress.String() == addr.String() && v.Vote.Height > h {
					out <- v.Vote.Height
					return
				}
			}
		}
	}()
	return out
}

// watchRounds logs node n's new rounds.
func watchRounds(ctx context.Context, n *Node, mark func(string, ...any)) func() {
	ctx, cancel := context.WithCancel(ctx)
	sub, err := n.cmt.EventBus().Subscribe(ctx, fmt.Sprintf("rejoin-rounds-%d", time.Now().UnixNano()), types.EventQueryNewRound, 1000)
	if err != nil {
		return cancel
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Canceled():
				return
			case m := <-sub.Out():
				if r, ok := m.Data().(types.EventDataNewRound); ok {
					mark("%s: new round %d/%d", n.settings.Moniker, r.Height, r.Round)
				}
			}
		}
	}()
	return cancel
}

// watchPeers logs every change in the running nodes' peer sets.
func watchPeers(nw *LocalNet, mark func(string, ...any)) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := map[string]string{}
		names := map[string]string{}
		for i := 0; i < nw.Size(); i++ {
			if n := nw.Node(i); n != nil {
				names[n.ID()] = n.settings.Moniker
			}
		}
		for {
			for i := 0; i < nw.Size(); i++ {
				n := nw.Node(i)
				if n == nil || !n.cmt.IsRunning() {
					continue
				}
				var ps []string
				for _, p := range n.cmt.Switch().Peers().List() {
					dir := "in"
					if p.IsOutbound() {
						dir = "out"
					}
					nm := names[string(p.ID())]
					if nm == "" {
						nm = string(p.ID())[:6]
					}
					ps = append(ps, nm+"/"+dir)
				}
				sort.Strings(ps)
				cur := strings.Join(ps, " ")
				key := n.settings.Moniker
				if prev, ok := last[key]; !ok || prev != cur {
					last[key] = cur
					mark("%s peers: [%s]", key, cur)
				}
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
