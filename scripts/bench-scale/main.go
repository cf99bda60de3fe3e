// Command bench-scale loads a 4-validator network in this process with records, grants,
// access requests and revocations through consensus (signed transactions, full blocks, no
// SDK on the load path), and at each stop measures what grows with the load: state and
// block store per record, query latencies, the ledger's time per transaction, an SDK grant
// and access, and a node's restart. It prints figures; it asserts nothing.
//
//	go run ./scripts/bench-scale [-stops 10000,100000] [-pairs 64] [-requests 2]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
)

func main() {
	stops := flag.String("stops", "10000,100000", "record counts at which to measure, ascending")
	pairs := flag.Int("pairs", 64, "owner/reader pairs loading in parallel")
	requests := flag.Int("requests", 2, "access requests by the reader per grant")
	blob := flag.Int("blob", 256, "bytes of each record's blob (uploaded for real, replicated)")
	samples := flag.Int("samples", 200, "queries of each kind per stop")
	flag.Parse()
	var at []int
	for _, s := range strings.Split(*stops, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 || (len(at) > 0 && n <= at[len(at)-1]) {
			fmt.Fprintf(os.Stderr, "bench-scale: -stops must be ascending positive counts, not %q\n", *stops)
			os.Exit(2)
		}
		at = append(at, n)
	}
	if err := run(at, *pairs, *requests, *blob, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

func run(stops []int, pairs, requests, blobSize, samples int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.DiscardHandler) // CometBFT logs peers dropped at every restart as errors
	nw, err := node.StartLocalNet(ctx, dir, node.LocalNetOptions{Logger: quiet, API: benchkit.LoopbackAPI})
	if err != nil {
		return err
	}
	defer nw.Stop()
	fmt.Printf("GOMAXPROCS %d, 4 validators in-process, open network, %d pairs, %d requests a grant, %d-byte blobs; load %s\n",
		runtime.GOMAXPROCS(0), pairs, requests, blobSize, benchkit.LoadAvg())
	l, err := newLoader(ctx, nw, pairs, requests, blobSize)
	if err != nil {
		return err
	}
	m := &measurer{nw: nw, l: l, samples: samples}
	if err := m.start(ctx); err != nil {
		return err
	}
	for _, stop := range stops {
		start := time.Now()
		if err := l.loadTo(ctx, stop); err != nil {
			return err
		}
		took := time.Since(start)
		fmt.Printf("\n== %d records, %d grants (%d revoked, %d expiring), %d requests: loaded in %v (%.0f tx/s), load %s\n",
			l.records(), l.records(), l.revoked(), l.expiring(), l.requests(), took.Round(time.Second),
			float64(l.txsSince())/took.Seconds(), benchkit.LoadAvg())
		if n := l.resent.Load(); n > 0 {
			fmt.Printf("   %d transactions came back bad_sequence (committed ahead of their predecessor) and were settled again\n", n)
		}
		if err := m.measure(ctx); err != nil {
			return err
		}
	}
	return nil
}
