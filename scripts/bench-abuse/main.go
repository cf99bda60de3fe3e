// Command bench-abuse measures what hostile clients cost honest ones on a 4-validator network in
// this process on 127.0.0.1, with admission on and every client its own source address.
//
// Honest patients and doctors run the story — put, grant, get, revoke — first on a quiet network
// and then while hostile clients flood it at once: junk transactions, parallel uploads from fresh
// keys (enrolled and not), deposit spam, re-encryption spam from enrolled accounts with real
// grants, slow readers, and 10 000 grants that all expire at one instant. It prints the honest
// access latency of both runs, the longest interval between blocks, what the nodes refused, and
// each node's disk growth against what the quotas allow. It asserts nothing.
//
//	go run ./scripts/bench-abuse [-duration 30s] [-pairs 4] [-expiries 10000]
//
// All of it shares this machine's cores: every node, and the flood's own clients. A flood
// against four real machines would cost each of them a quarter of what it costs here.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
)

// flood shapes the hostile clients.
type flood struct {
	junkRate     float64 // junk transactions a second, over junkSources
	junkSources  int
	uploaders    int   // fresh keys uploading, half of them enrolled
	uploadSize   int64 // each upload's size; each uploader keeps 4 in flight
	depositRate  float64
	spammers     int // enrolled accounts re-encrypting their own grant as fast as they may
	slowReaders  int // connections reading a blob at 1 KiB/s
	expiries     int // grants that all expire halfway through the flood
	expiryOwners int // accounts that make them (each within its own allowance)
}

func main() {
	duration := flag.Duration("duration", 30*time.Second, "length of the quiet run and of the flood")
	pairs := flag.Int("pairs", 4, "honest owner and recipient pairs, each running the story in a loop")
	size := flag.String("size", "256K", "size of each honest record")
	var f flood
	flag.Float64Var(&f.junkRate, "junk-rate", 1000, "junk transactions a second")
	flag.IntVar(&f.junkSources, "junk-sources", 32, "source addresses the junk comes from")
	flag.IntVar(&f.uploaders, "uploaders", 16, "fresh keys uploading in parallel (half enrol first)")
	upload := flag.String("upload-size", "8M", "size of each hostile upload")
	flag.Float64Var(&f.depositRate, "deposit-rate", 400, "junk deposits a second")
	flag.IntVar(&f.spammers, "spammers", 4, "enrolled accounts spamming re-encryption of their own grant")
	flag.IntVar(&f.slowReaders, "slow-readers", 32, "connections reading a blob at 1 KiB/s")
	flag.IntVar(&f.expiries, "expiries", 10000, "grants expiring at one instant during the flood")
	flag.IntVar(&f.expiryOwners, "expiry-owners", 20, "accounts making those grants")
	flag.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the flood to this file")
	flag.Parse()
	honestSize, err := benchkit.ParseSize(*size)
	if err == nil {
		f.uploadSize, err = benchkit.ParseSize(*upload)
	}
	if err == nil {
		err = run(*duration, *pairs, honestSize, f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-abuse:", err)
		os.Exit(1)
	}
}

var profile string

// env is the network and what every part of the benchmark talks to it with.
type env struct {
	ctx   context.Context
	nw    *node.LocalNet
	desc  *protocol.Network
	chain string
	nodes []protocol.Node
	rpc   *node.RPC
	tr    http.RoundTripper
}

// client is an HTTP client whose requests come from source address i.
func (e *env) client(i int) *http.Client {
	return &http.Client{Transport: benchkit.From(e.tr, i), Timeout: time.Minute}
}

func run(duration time.Duration, pairs int, size int64, f flood) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "bench-abuse-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("GOMAXPROCS %d, 4 validators in-process on 127.0.0.1, admission on (%d-bit enrolment); load average %s\n",
		runtime.GOMAXPROCS(0), node.LocalAdmission.EnrolBits, benchkit.LoadAvg())
	defer func() { fmt.Printf("load average at the end %s\n", benchkit.LoadAvg()) }()
	nw, err := node.StartLocalNet(ctx, dir, node.LocalNetOptions{Admission: &node.LocalAdmission, API: benchkit.LoopbackAPI})
	if err != nil {
		return err
	}
	defer nw.Stop()
	desc, err := nw.Description()
	if err != nil {
		return err
	}
	e := &env{ctx: ctx, nw: nw, desc: desc, chain: nw.ChainID(), nodes: desc.Nodes, rpc: nw.RPC(),
		tr: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
	blocks := watchBlocks(ctx, nw.Node(0))

	honest, err := newHonest(e, pairs, size)
	if err != nil {
		return fmt.Errorf("honest users: %w", err)
	}
	fmt.Printf("quiet run: %d honest pairs, put %s → grant → get → revoke, for %v\n", pairs, humanBytes(size), duration)
	quietFrom := time.Now()
	quiet := honest.run(duration)
	quiet.print("quiet", blocks.longest(quietFrom, time.Now()))

	attack, err := prepare(e, f, duration)
	if err != nil {
		return fmt.Errorf("preparing the flood: %w", err)
	}
	before := diskUsage(nw.Homes())
	fmt.Printf("flood: %s\n", attack.describe())
	stopProfile, err := benchkit.CPUProfile(profile)
	if err != nil {
		return err
	}
	floodFrom, cpu0 := time.Now(), benchkit.ProcessCPU()
	floodCtx, stopFlood := context.WithCancel(ctx)
	done := attack.start(floodCtx)
	loud := honest.run(max(duration, time.Until(attack.expireAt)+duration/2))
	stopFlood()
	tally := <-done
	stopProfile()
	fmt.Printf("  process CPU during the flood: %.2f cores busy of %d\n",
		(benchkit.ProcessCPU()-cpu0).Seconds()/time.Since(floodFrom).Seconds(), runtime.NumCPU())
	loud.print("flood", blocks.longest(floodFrom, time.Now()))
	if q, l := quiet.p50(), loud.p50(); q > 0 {
		fmt.Printf("honest access p50 under the flood: %.2f× the quiet run (goal ≤ 2×)\n", float64(l)/float64(q))
	}
	tally.print()
	if err := attack.checkExpiries(e); err != nil {
		fmt.Println("expiries:", err)
	}
	after := diskUsage(nw.Homes())
	printDisk(before, after, attack.diskBound(), honest.stored())
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
