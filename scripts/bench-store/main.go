// Command bench-store compares store/local's import with kubo's 'ipfs add --cid-version=1
// --raw-leaves' on the same file, and checks that both give the same CID.
//
//	go run ./scripts/bench-store -ipfs .cache/bin/ipfs -sizes 100M,1G -runs 3
//
// Each run uses a fresh store directory and a fresh kubo repo served by an offline daemon; the
// time is the wall time of the import alone (the 'ipfs add' client call for kubo, Put for
// local). The input file is generated once, AES-128-CTR keystream bytes, and sits in the page
// cache for both.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
	"github.com/resilientrecords/resilientrecords/store/kubo/kubotest"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/store/storetest"
)

func main() {
	ipfs := flag.String("ipfs", os.Getenv("RREC_IPFS"), "kubo binary (default $RREC_IPFS)")
	sizes := flag.String("sizes", "100M,1G", "comma-separated file sizes (suffix K, M, G = KiB, MiB, GiB)")
	runs := flag.Int("runs", 3, "runs per size and implementation")
	dir := flag.String("dir", "", "scratch directory (default a new temporary directory)")
	flag.Parse()
	log.SetFlags(0)
	if *ipfs == "" {
		log.Fatal("bench-store: no kubo binary: pass -ipfs or set RREC_IPFS (make builds .cache/bin/ipfs)")
	}
	scratch := *dir
	if scratch == "" {
		var err error
		if scratch, err = os.MkdirTemp("", "bench-store-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(scratch)
	}
	fmt.Printf("%-6s %-4s %12s %12s %7s  %s\n", "size", "runs", "local", "kubo", "ratio", "cid")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := benchkit.ParseSize(s)
		if err != nil {
			log.Fatal(err)
		}
		if err := benchSize(*ipfs, scratch, s, n, *runs); err != nil {
			log.Fatal(err)
		}
	}
}

func benchSize(ipfs, scratch, label string, n int64, runs int) error {
	file := filepath.Join(scratch, "input-"+label)
	if err := writeKeystream(file, n); err != nil {
		return err
	}
	defer os.Remove(file)
	var localTimes, kuboTimes []time.Duration
	var localCID, kuboCID string
	for i := 0; i < runs; i++ {
		d, c, err := timeLocal(scratch, file)
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		localTimes, localCID = append(localTimes, d), c
		d, c, err = timeKubo(ipfs, scratch, file)
		if err != nil {
			return fmt.Errorf("kubo: %w", err)
		}
		kuboTimes, kuboCID = append(kuboTimes, d), c
	}
	if localCID != kuboCID {
		return fmt.Errorf("%s: CIDs differ: local %s, kubo %s", label, localCID, kuboCID)
	}
	lm, km := benchkit.Median(localTimes), benchkit.Median(kuboTimes)
	fmt.Printf("%-6s %-4d %12s %12s %6.2fx  %s (identical; this process's peak RSS %s)\n", label, runs,
		lm.Round(time.Millisecond), km.Round(time.Millisecond), float64(lm)/float64(km), localCID, peakRSS())
	return nil
}

// peakRSS reports the high-water mark of this process's resident memory (Linux only), which
// shows that a local import streams rather than buffering the file.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func writeKeystream(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, storetest.Keystream(n)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func timeLocal(scratch, file string) (time.Duration, string, error) {
	dir, err := os.MkdirTemp(scratch, "local-")
	if err != nil {
		return 0, "", err
	}
	defer os.RemoveAll(dir)
	s, err := local.Open(dir, &local.Options{MaxSize: -1})
	if err != nil {
		return 0, "", err
	}
	defer s.Close()
	f, err := os.Open(file)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	start := time.Now()
	c, _, err := s.Put(context.Background(), f)
	return time.Since(start), c.String(), err
}

func timeKubo(ipfs, scratch, file string) (time.Duration, string, error) {
	repo, err := os.MkdirTemp(scratch, "kubo-")
	if err != nil {
		return 0, "", err
	}
	defer os.RemoveAll(repo)
	ctx := context.Background()
	d, err := kubotest.Start(ctx, ipfs, repo, kubotest.Options{Offline: true})
	if err != nil {
		return 0, "", err
	}
	defer d.Stop()
	start := time.Now()
	out, err := d.Command(ctx, "add", "--cid-version=1", "--raw-leaves", "-Q", file).Output()
	elapsed := time.Since(start)
	if err != nil {
		return 0, "", fmt.Errorf("add: %w", err)
	}
	return elapsed, strings.TrimSpace(string(out)), nil
}
