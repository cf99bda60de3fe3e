// Command bench-replication measures how long a 4-node loopback network
// takes, from the commit of a PutRecord, until every node's store holds the
// record's blob.
//
//	go run ./scripts/bench-replication -size 100M -runs 3 -stores embedded,kubo
//
// For each store kind it starts one network (kubo: four daemons on
// loopback, connected to each other, one per node), then per run uploads a
// fresh random blob to node 0, commits the PutRecord and polls every
// node's store (Has: the root is recorded only after every block was
// imported and verified, or pinned) every 2 ms. "holders" is when the
// ledger lists all four HoldsBlob reports.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/umbral"
)

func main() {
	ipfs := flag.String("ipfs", os.Getenv("RREC_IPFS"), "kubo binary (default $RREC_IPFS)")
	size := flag.String("size", "100M", "blob size (suffix K, M, G = KiB, MiB, GiB)")
	runs := flag.Int("runs", 3, "runs per store kind")
	stores := flag.String("stores", "embedded,kubo", "store kinds to measure")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	log.SetFlags(0)
	n, err := parseSize(*size)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%-9s %-6s %-4s %14s %14s %14s\n", "store", "size", "run", "upload", "all hold", "holders@ledger")
	for _, kind := range strings.Split(*stores, ",") {
		if kind == "kubo" && *ipfs == "" {
			log.Fatal("bench-replication: no kubo binary: pass -ipfs or set RREC_IPFS")
		}
		if err := bench(kind, *ipfs, *size, n, *runs); err != nil {
			log.Printf("%s: %v", kind, err)
			return
		}
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v * mult, err
}

func bench(kind, ipfs, label string, size int64, runs int) error {
	dir, err := os.MkdirTemp("", "bench-replication-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var daemons []*daemon
	defer func() {
		for _, d := range daemons {
			d.stop()
		}
	}()
	if kind == "kubo" {
		for i := range 4 {
			d, err := startDaemon(ipfs, filepath.Join(dir, fmt.Sprintf("ipfs%d", i)))
			if err != nil {
				return err
			}
			daemons = append(daemons, d)
		}
		for i, d := range daemons {
			for _, o := range daemons[i+1:] {
				if _, err := d.run("swarm", "connect", o.swarm); err != nil {
					return err
				}
			}
		}
	} else if kind != "embedded" {
		return fmt.Errorf("unknown store kind %q", kind)
	}
	nw, err := node.StartNetwork(ctx, filepath.Join(dir, "net"), node.NetworkOptions{ChainID: "rr-bench-repl"})
	if err != nil {
		return err
	}
	defer nw.Stop()
	if kind == "kubo" {
		if err := nw.Stop(); err != nil {
			return err
		}
		for i, d := range daemons {
			s, err := node.ReadSettings(nw.Homes()[i])
			if err != nil {
				return err
			}
			s.Blobs.KuboAPI = d.api
			if err := node.WriteSettings(nw.Homes()[i], s); err != nil {
				return err
			}
		}
		if err := nw.Restart(ctx); err != nil {
			return err
		}
	}
	snap, err := nw.Node(0).App().Committed()
	if err != nil {
		return err
	}
	reg, err := snap.Nodes()
	snap.Release()
	if err != nil {
		return err
	}
	nodes := client.NodesFromRegistry(reg)
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		return err
	}
	owner := umbral.NewSigner(sk)
	pk := ledger.PubKeyOf(owner.VerifyingKey())
	var seq uint64
	var holdTimes []time.Duration
	for run := 1; run <= runs; run++ {
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			return err
		}
		started := time.Now()
		c, err := (&client.Client{}).UploadBlob(ctx, nodes[0], nw.ChainID(), owner, bytes.NewReader(data), size)
		if err != nil {
			return err
		}
		upload := time.Since(started)
		rec := ledger.RecordID(nw.ChainID(), pk, seq)
		raw, err := putTx(owner, nw.ChainID(), seq, c, size)
		if err != nil {
			return err
		}
		if _, err := nw.Node(0).Client().Submit(ctx, raw); err != nil {
			return err
		}
		seq++
		committed := time.Now()
		all, err := waitAll(ctx, nw, c)
		if err != nil {
			return err
		}
		ledgerAll, err := waitHolders(ctx, nw, rec)
		if err != nil {
			return err
		}
		holdTimes = append(holdTimes, all.Sub(committed))
		fmt.Printf("%-9s %-6s %-4d %14s %14s %14s\n", kind, label, run, upload.Round(time.Millisecond),
			all.Sub(committed).Round(time.Millisecond), ledgerAll.Sub(committed).Round(time.Millisecond))
	}
	slices.Sort(holdTimes)
	fmt.Printf("%-9s %-6s median all-hold %s\n", kind, label, holdTimes[len(holdTimes)/2].Round(time.Millisecond))
	return nil
}

func putTx(owner *umbral.Signer, chain string, seq uint64, c cid.Cid, size int64) ([]byte, error) {
	dk, err := umbral.GenerateSecretKey()
	if err != nil {
		return nil, err
	}
	capsule, _, err := umbral.Encrypt(dk.PublicKey(), []byte("file key"))
	if err != nil {
		return nil, err
	}
	body := &ledger.PutRecord{CID: []byte(c.String()), Size: uint64(size), DelegatingKey: ledger.PubKeyOf(dk.PublicKey())}
	cb, _ := capsule.MarshalBinary()
	copy(body.Capsule[:], cb)
	tx := &ledger.Tx{ChainID: chain, Sequence: seq, Body: body}
	if err := tx.Sign(owner); err != nil {
		return nil, err
	}
	return tx.Encode(), nil
}

func waitAll(ctx context.Context, nw *node.Network, c cid.Cid) (time.Time, error) {
	for {
		n := 0
		for i := range nw.Size() {
			if ok, _ := nw.Node(i).BlobStore().Has(ctx, c); ok {
				n++
			}
		}
		if n == nw.Size() {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("only %d nodes hold %s: %w", n, c, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func waitHolders(ctx context.Context, nw *node.Network, rec ledger.ID) (time.Time, error) {
	for {
		var r ledger.Record
		if _, err := nw.Node(0).Client().Query(ctx, "/record/"+rec.String(), &r); err == nil && len(r.Holders) == nw.Size() {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

type daemon struct {
	bin, repo, api, swarm string
	cmd                   *exec.Cmd
	exited                chan struct{}
}

func (d *daemon) run(args ...string) (string, error) {
	cmd := exec.Command(d.bin, args...)
	cmd.Env = append(os.Environ(), "IPFS_PATH="+d.repo, "IPFS_TELEMETRY=off", "DO_NOT_TRACK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ipfs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func startDaemon(bin, repo string) (*daemon, error) {
	d := &daemon{bin: bin, repo: repo, exited: make(chan struct{})}
	for _, args := range [][]string{{"init", "--profile=test", "--empty-repo"}, {"config", "Routing.Type", "none"}} {
		if _, err := d.run(args...); err != nil {
			return nil, err
		}
	}
	d.cmd = exec.Command(bin, "daemon")
	d.cmd.Env = append(os.Environ(), "IPFS_PATH="+repo, "IPFS_TELEMETRY=off", "DO_NOT_TRACK=1")
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(repo, "api")); err == nil {
			if _, err := d.run("id", "-f", "<id>"); err == nil {
				d.api = strings.TrimSpace(string(b))
				break
			}
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("ipfs daemon in %s not ready", repo)
		}
		time.Sleep(100 * time.Millisecond)
	}
	id, err := d.run("id", "-f", "<id>")
	if err != nil {
		return nil, err
	}
	addrs, err := d.run("id", "-f", "<addrs>")
	if err != nil {
		return nil, err
	}
	for _, a := range strings.Fields(addrs) {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			if !strings.Contains(a, "/p2p/") {
				a += "/p2p/" + id
			}
			d.swarm = a
			break
		}
	}
	if d.swarm == "" {
		d.stop()
		return nil, fmt.Errorf("ipfs daemon in %s has no loopback swarm address", repo)
	}
	return d, nil
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
}
