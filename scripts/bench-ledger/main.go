// Command bench-ledger measures the ledger on a 4-validator network in this
// process on 127.0.0.1: commit latency of sequential grants and sustained
// grant throughput with many concurrent accounts. It prints figures; it
// asserts nothing.
//
//	go run ./scripts/bench-ledger [-n 300] [-accounts 200] [-duration 15s] [-nocache]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
	"github.com/resilientrecords/resilientrecords/umbral"
)

func main() {
	n := flag.Int("n", 300, "sequential grants for the latency run")
	accounts := flag.Int("accounts", 200, "concurrent accounts for the throughput run")
	inflight := flag.Int("inflight", 2, "transactions each account keeps in flight")
	duration := flag.Duration("duration", 15*time.Second, "length of the throughput run")
	noCache := flag.Bool("nocache", false, "verify signatures again in FinalizeBlock")
	verbose := flag.Bool("v", false, "log CometBFT errors")
	cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of the throughput run to this file")
	census := flag.Bool("census", false, "count CometBFT log messages (all levels) and print the most frequent")
	flag.Parse()
	if *census {
		counter = &msgCounter{m: map[string]int{}}
		defer counter.print()
	}
	if err := run(*n, *accounts, *inflight, *duration, *noCache, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "bench-ledger:", err)
		os.Exit(1)
	}
}

type account struct {
	signer *umbral.Signer
	pk     protocol.PubKey
	seq    uint64
	record protocol.ID
}

func newAccount() (*account, error) {
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		return nil, err
	}
	s := umbral.NewSigner(sk)
	return &account{signer: s, pk: protocol.PubKeyOf(s.VerifyingKey())}, nil
}

func (a *account) sign(chain string, body protocol.Body) ([]byte, error) {
	tx := &protocol.Tx{ChainID: chain, Sequence: a.seq, Expires: time.Now().Add(10 * time.Minute).UnixNano(), Body: body}
	if err := tx.Sign(a.signer); err != nil {
		return nil, err
	}
	a.seq++
	return tx.Encode(), nil
}

func run(n, accounts, inflight int, duration time.Duration, noCache, verbose bool) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-ledger-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var lg *slog.Logger
	if verbose {
		lg = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	if counter != nil {
		lg = slog.New(counter)
	}
	fmt.Printf("GOMAXPROCS %d, 4 validators in-process, loopback timing %+v, sig cache %v\n",
		runtime.GOMAXPROCS(0), node.LoopbackTiming(), !noCache)
	verifyCost, err := measureVerify()
	if err != nil {
		return err
	}
	verifies := 4.0
	if noCache {
		verifies = 8
	}
	fmt.Printf("signature verification: %v each; %v verifications per tx across the network "+
		"=> CPU floor %.0f tx/s per core\n", verifyCost, verifies, float64(time.Second)/(verifies*float64(verifyCost)))

	start := time.Now()
	nw, err := node.StartLocalNet(ctx, dir, node.LocalNetOptions{Logger: lg, NoSigCache: noCache, Admission: &node.LocalAdmission})
	if err != nil {
		return err
	}
	defer nw.Stop()
	fmt.Printf("network up in %v\n", time.Since(start).Round(time.Millisecond))
	var reg []protocol.Node
	if _, err := nw.RPC().Query(ctx, "/nodes", &reg); err != nil {
		return err
	}
	chain := nw.ChainID()
	c := nw.RPC()

	grant := func(a *account, to protocol.PubKey) (protocol.Body, error) {
		g := &protocol.Grant{Record: a.record, OwnerEnc: to, RecipientSig: to, RecipientEnc: to, Purpose: "bench"}
		for i, r := range reg {
			g.Nodes = append(g.Nodes, protocol.GrantNode{Proxy: r.ProxyKey, Commitment: [32]byte{byte(i)}})
		}
		return g, nil
	}
	put := func(a *account) ([]byte, error) {
		sk, _ := umbral.GenerateSecretKey()
		cap, _, err := umbral.Encrypt(sk.PublicKey(), []byte("k"))
		if err != nil {
			return nil, err
		}
		cb, _ := cap.MarshalBinary()
		body := &protocol.PutRecord{CID: []byte(fmt.Sprintf("bafkreibench%x", a.pk[1:9])), Size: 1, DelegatingKey: protocol.PubKeyOf(sk.PublicKey())}
		copy(body.Capsule[:], cb)
		a.record = protocol.RecordID(chain, a.pk, a.seq)
		return a.sign(chain, body)
	}

	// Latency: one owner, sequential grants, each submitted after the
	// previous one committed.
	owner, err := newAccount()
	if err != nil {
		return err
	}
	if err := nw.Node(0).Admit(ctx, protocol.TierMember, owner.pk); err != nil {
		return err
	}
	raw, err := put(owner)
	if err != nil {
		return err
	}
	if _, err := c.Submit(ctx, raw); err != nil {
		return err
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		body, _ := grant(owner, owner.pk)
		raw, err := owner.sign(chain, body)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if _, err := c.Submit(ctx, raw); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	pct := func(p float64) time.Duration { return benchkit.Percentile(lat, p).Round(100 * time.Microsecond) }
	fmt.Printf("commit latency of a grant through the node's RPC, %d sequential: p50 %v  p90 %v  p99 %v  max %v\n",
		n, pct(0.5), pct(0.9), pct(0.99), benchkit.Percentile(lat, 1).Round(time.Millisecond))
	if err := sdkLatency(ctx, nw, reg, n); err != nil {
		return err
	}

	// Throughput: many accounts, each keeping `inflight` grants in flight,
	// transactions signed in advance so client signing is not measured.
	accs := make([]*account, accounts)
	keys := make([]protocol.PubKey, accounts)
	for i := range accs {
		if accs[i], err = newAccount(); err != nil {
			return err
		}
		keys[i] = accs[i].pk
	}
	if err := nw.Node(0).Admit(ctx, protocol.TierMember, keys...); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errc := make(chan error, accounts)
	for _, a := range accs {
		raw, err := put(a)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Submit(ctx, raw); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("setup: %w", err)
	default:
	}
	perAccount := int(float64(duration/time.Second)*2000/float64(accounts)) + 10
	signStart := time.Now()
	txs := make([][][]byte, accounts)
	for i, a := range accs {
		for j := 0; j < perAccount; j++ {
			body, _ := grant(a, owner.pk)
			raw, err := a.sign(chain, body)
			if err != nil {
				return err
			}
			txs[i] = append(txs[i], raw)
		}
	}
	fmt.Printf("signed %d grants in advance in %v\n", accounts*perAccount, time.Since(signStart).Round(time.Millisecond))

	stopProfile, err := benchkit.CPUProfile(*cpuprofile)
	if err != nil {
		return err
	}
	defer stopProfile()
	h0 := nw.Node(0).Height()
	cpu0 := benchkit.ProcessCPU()
	var committed, failed atomic.Int64
	runCtx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	t0 := time.Now()
	for i := range accs {
		// Each account broadcasts its txs in sequence order (the next one
		// once CheckTx admitted the previous one) and keeps up to
		// `inflight` of them uncommitted; the ledger's mempool-local
		// sequence view admits them.
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots := make(chan struct{}, inflight)
			var aw sync.WaitGroup
			defer aw.Wait()
			for _, raw := range txs[i] {
				select {
				case slots <- struct{}{}:
				case <-runCtx.Done():
					return
				}
				p, err := c.Broadcast(runCtx, raw)
				if err != nil {
					if runCtx.Err() == nil {
						failed.Add(1)
						fmt.Fprintln(os.Stderr, "broadcast:", err)
					}
					return // later sequence numbers cannot pass now
				}
				aw.Add(1)
				go func() {
					defer aw.Done()
					defer func() { <-slots }()
					if _, err := p.Wait(runCtx); err == nil {
						committed.Add(1)
					} else if runCtx.Err() == nil {
						failed.Add(1)
					}
				}()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	cpu := benchkit.ProcessCPU() - cpu0
	blocks := nw.Node(0).Height() - h0
	fmt.Printf("throughput: %d accounts x %d in flight for %v: %d grants committed = %.0f grants/s "+
		"(%d blocks, %.1f tx/block, %d failed)\n", accounts, inflight, elapsed.Round(time.Millisecond),
		committed.Load(), float64(committed.Load())/elapsed.Seconds(), blocks,
		float64(committed.Load())/float64(max(blocks, 1)), failed.Load())
	if c := committed.Load(); c > 0 {
		per := cpu / time.Duration(c)
		fmt.Printf("process CPU during the run: %v (%.2f cores busy); %v CPU per committed grant "+
			"(4 nodes + client) => ceiling %.0f grants/s with all %d cores\n", cpu.Round(time.Millisecond),
			cpu.Seconds()/elapsed.Seconds(), per.Round(time.Microsecond), float64(runtime.NumCPU())*float64(time.Second)/float64(per), runtime.NumCPU())
	}
	return nil
}

// measureVerify times signature verification as the ledger does it.
func measureVerify() (time.Duration, error) {
	a, err := newAccount()
	if err != nil {
		return 0, err
	}
	tx := &protocol.Tx{ChainID: "x", Body: &protocol.Revoke{}}
	if err := tx.Sign(a.signer); err != nil {
		return 0, err
	}
	const rounds = 500
	t0 := time.Now()
	for i := 0; i < rounds; i++ {
		if !tx.VerifySig() {
			return 0, fmt.Errorf("verification failed")
		}
	}
	return time.Since(t0) / rounds, nil
}

// msgCounter is a slog.Handler that only counts messages, to see what
// consensus and the mempool were busy with (rounds, rejected txs).
type msgCounter struct {
	mu sync.Mutex
	m  map[string]int
}

var (
	counter    *msgCounter
	cpuprofile *string
)

func (c *msgCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *msgCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *msgCounter) WithGroup(string) slog.Handler            { return c }
func (c *msgCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.m[r.Message]++
	r.Attrs(func(a slog.Attr) bool {
		if r.Message == "Timed out" && a.Key == "step" {
			c.m["Timed out in "+fmt.Sprint(a.Value.Any())]++
		}
		if r.Message == "finalizing commit of block" && a.Key == "round" {
			c.m["block committed in round "+fmt.Sprint(a.Value.Any())]++
		}
		if a.Key == "took" {
			if d, ok := a.Value.Any().(time.Duration); ok {
				c.m[r.Message+" (ms total)"] += int(d.Milliseconds())
			}
		}
		return true
	})
	c.mu.Unlock()
	return nil
}

func (c *msgCounter) print() {
	c.mu.Lock()
	defer c.mu.Unlock()
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range c.m {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v })
	for i, e := range all {
		if i == 120 {
			break
		}
		fmt.Printf("%8d  %s\n", e.v, e.k)
	}
}

// sdkLatency times sequential grants as the SDK commits them: the sequence read from f+1
// nodes, the transaction through a node's HTTP API, its commit confirmed by f+1 nodes'
// signed answers.
func sdkLatency(ctx context.Context, nw *node.LocalNet, reg []protocol.Node, n int) error {
	desc, err := nw.Description()
	if err != nil {
		return err
	}
	id, err := identity.Generate()
	if err != nil {
		return err
	}
	s, err := client.New(desc, id, nil)
	if err != nil {
		return err
	}
	me := protocol.PubKeyOf(id.Public().Signing)
	if err := nw.Node(0).Admit(ctx, protocol.TierMember, me); err != nil {
		return err
	}
	rec := protocol.RecordID(desc.ChainID, me, 0)
	if _, err := s.Submit(ctx, protocoltest.PutRecord(fmt.Sprintf("bafkreibench%x", me[1:9]), 1)); err != nil {
		return err
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		g := &protocol.Grant{Record: rec, OwnerEnc: me, RecipientSig: me, RecipientEnc: me, Purpose: "bench"}
		for j, r := range reg {
			g.Nodes = append(g.Nodes, protocol.GrantNode{Proxy: r.ProxyKey, Commitment: [32]byte{byte(j)}})
		}
		t0 := time.Now()
		if _, err := s.Submit(ctx, g); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	pct := func(p float64) time.Duration { return benchkit.Percentile(lat, p).Round(100 * time.Microsecond) }
	f := desc.F()
	fmt.Printf("commit latency of a grant through the SDK (HTTP API; every answer signed; sequence and commit confirmed by f+1 = %d nodes), %d sequential: p50 %v  p90 %v  p99 %v\n",
		f+1, n, pct(0.5), pct(0.9), pct(0.99))
	fmt.Printf("requests per transaction: 1 submission and %d commit confirmations, each answer signed by its node and verified (%d sequence reads when a session starts)\n",
		f, f+1)
	return nil
}
