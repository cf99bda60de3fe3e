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
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
	"github.com/resilientrecords/resilientrecords/store/kubo/kubotest"
	"github.com/resilientrecords/resilientrecords/umbral"
)

func main() {
	ipfs := flag.String("ipfs", os.Getenv("RREC_IPFS"), "kubo binary (default $RREC_IPFS)")
	size := flag.String("size", "100M", "blob size (suffix K, M, G = KiB, MiB, GiB)")
	runs := flag.Int("runs", 3, "runs per store kind")
	stores := flag.String("stores", "embedded,kubo", "store kinds to measure")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run here")
	flag.Parse()
	stopProfile, err := benchkit.CPUProfile(*cpuprofile)
	if err != nil {
		log.Fatal(err)
	}
	defer stopProfile()
	log.SetFlags(0)
	n, err := benchkit.ParseSize(*size)
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

func bench(kind, ipfs, label string, size int64, runs int) error {
	dir, err := os.MkdirTemp("", "bench-replication-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var daemons []*kubotest.Daemon
	defer func() {
		for _, d := range daemons {
			d.Stop()
		}
	}()
	if kind == "kubo" {
		for i := range 4 {
			d, err := kubotest.Start(ctx, ipfs, filepath.Join(dir, fmt.Sprintf("ipfs%d", i)), kubotest.Options{})
			if err != nil {
				return err
			}
			daemons = append(daemons, d)
		}
		if err := kubotest.ConnectAll(ctx, daemons...); err != nil {
			return err
		}
	} else if kind != "embedded" {
		return fmt.Errorf("unknown store kind %q", kind)
	}
	var apis []string
	for _, d := range daemons {
		apis = append(apis, d.APIAddr())
	}
	nw, err := node.StartLocalNet(ctx, filepath.Join(dir, "net"), node.LocalNetOptions{ChainID: "rr-bench-repl", KuboAPIs: apis})
	if err != nil {
		return err
	}
	defer nw.Stop()
	snap, err := nw.Node(0).App().Committed()
	if err != nil {
		return err
	}
	reg, err := snap.Nodes()
	snap.Release()
	if err != nil {
		return err
	}
	nodes := reg
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		return err
	}
	owner := umbral.NewSigner(sk)
	pk := protocol.PubKeyOf(owner.VerifyingKey())
	var seq uint64
	var holdTimes []time.Duration
	for run := 1; run <= runs; run++ {
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			return err
		}
		started := time.Now()
		c, err := (&client.API{}).UploadBlob(ctx, nodes[0], nw.ChainID(), owner, bytes.NewReader(data), size)
		if err != nil {
			return err
		}
		upload := time.Since(started)
		rec := protocol.RecordID(nw.ChainID(), pk, seq)
		raw, err := putTx(owner, nw.ChainID(), seq, c, size)
		if err != nil {
			return err
		}
		if _, err := nw.Node(0).RPC().Submit(ctx, raw); err != nil {
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
	fmt.Printf("%-9s %-6s median all-hold %s\n", kind, label, benchkit.Median(holdTimes).Round(time.Millisecond))
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
	body := &protocol.PutRecord{CID: []byte(c.String()), Size: uint64(size), DelegatingKey: protocol.PubKeyOf(dk.PublicKey())}
	cb, _ := capsule.MarshalBinary()
	copy(body.Capsule[:], cb)
	tx := &protocol.Tx{ChainID: chain, Sequence: seq, Expires: time.Now().Add(10 * time.Minute).UnixNano(), Body: body}
	if err := tx.Sign(owner); err != nil {
		return nil, err
	}
	return tx.Encode(), nil
}

func waitAll(ctx context.Context, nw *node.LocalNet, c cid.Cid) (time.Time, error) {
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

func waitHolders(ctx context.Context, nw *node.LocalNet, rec protocol.ID) (time.Time, error) {
	for {
		var r protocol.Record
		if _, err := nw.Node(0).RPC().Query(ctx, "/record/"+rec.String(), &r); err == nil && len(r.Holders) == nw.Size() {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
