package node_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/store/kubo"
)

// kuboDaemon is a kubo daemon on a fresh repo, loopback only, routing
// off: it finds peers only through explicit swarm connects.
type kuboDaemon struct {
	bin, repo string
}

func ipfsBin(t *testing.T) string {
	bin := os.Getenv("RREC_IPFS")
	if bin == "" {
		msg := "RREC_IPFS is not set: run `make test`, which builds kubo to .cache/bin/ipfs and sets it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

func (d *kuboDaemon) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(d.bin, args...)
	cmd.Env = append(os.Environ(), "IPFS_PATH="+d.repo, "IPFS_TELEMETRY=off", "DO_NOT_TRACK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ipfs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func startKubo(t *testing.T) *kuboDaemon {
	t.Helper()
	d := &kuboDaemon{bin: ipfsBin(t), repo: t.TempDir()}
	d.run(t, "init", "--profile=test", "--empty-repo")
	d.run(t, "config", "Routing.Type", "none")
	logf, err := os.Create(filepath.Join(t.TempDir(), "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(d.bin, "daemon")
	cmd.Env = append(os.Environ(), "IPFS_PATH="+d.repo, "IPFS_TELEMETRY=off", "DO_NOT_TRACK=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s, err := kubo.NewFromRepo(d.repo, nil); err == nil {
			_, err := s.List(context.Background())
			s.Close()
			if err == nil {
				return d
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("ipfs daemon exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("ipfs daemon not ready after 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *kuboDaemon) apiAddr(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(d.repo, "api"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (d *kuboDaemon) swarmAddr(t *testing.T) string {
	id := strings.TrimSpace(d.run(t, "id", "-f", "<id>"))
	for _, a := range strings.Fields(d.run(t, "id", "-f", "<addrs>")) {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			if !strings.Contains(a, "/p2p/") {
				a += "/p2p/" + id
			}
			return a
		}
	}
	t.Fatal("no loopback swarm address")
	return ""
}

// hasBlock asks the daemon, offline, whether it still has a block.
func (d *kuboDaemon) hasBlock(t *testing.T, c cid.Cid) bool {
	cmd := exec.Command(d.bin, "block", "stat", "--offline", c.String())
	cmd.Env = append(os.Environ(), "IPFS_PATH="+d.repo)
	return cmd.Run() == nil
}

// Nodes 0 and 1 keep blobs in their own kubo daemons, connected to each
// other; nodes 2 and 3 use embedded stores. Node 1 takes its replica by
// pinning (bitswap from node 0's daemon); nodes 2 and 3 by CAR over HTTP.
func TestBlobNetworkKubo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network and two kubo daemons")
	}
	ds := []*kuboDaemon{startKubo(t), startKubo(t)}
	ds[1].run(t, "swarm", "connect", ds[0].swarmAddr(t))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	nw, err := node.StartNetwork(ctx, t.TempDir(), node.NetworkOptions{ChainID: "rr-blob-kubo", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Stop() })
	if err := nw.Stop(); err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		s, err := node.ReadSettings(nw.Homes()[i])
		if err != nil {
			t.Fatal(err)
		}
		s.Blobs.KuboAPI = d.apiAddr(t)
		if err := node.WriteSettings(nw.Homes()[i], s); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	p := &pnet{t: t, ctx: ctx, nw: nw, chain: nw.ChainID()}
	reg, err := p.snapshot().Nodes()
	if err != nil {
		t.Fatal(err)
	}
	p.nodes = client.NodesFromRegistry(reg)
	if _, ok := nw.Node(0).BlobStore().(*kubo.Store); !ok {
		t.Fatal("node 0 does not use its kubo daemon")
	}
	owner, bob := newPUser(t), newPUser(t)
	data := randomBlob(t)
	leaves := make([]cid.Cid, 0, 3)
	for _, ch := range chunksOf(data) {
		c, _, err := cidOf(ch)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, c)
	}
	c := p.upload(owner, 0, data)
	rec := p.putBlob(owner, c, len(data))
	p.waitHeld([]int{0, 1, 2, 3}, c, data)
	p.waitHolders(rec.id, 4)
	for _, d := range ds {
		for _, l := range leaves {
			if !d.hasBlock(t, l) {
				t.Fatalf("daemon %s lacks leaf %s", d.repo, l)
			}
		}
	}
	var got bytes.Buffer
	if err := (&client.Client{}).FetchBlob(ctx, p.nodes[1:2], c, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("fetch from the kubo-backed node 1: %v", err)
	}

	// Node 1's daemon loses the blob while the node is down; it repins on start.
	if err := nw.StopNode(1); err != nil {
		t.Fatal(err)
	}
	ds[1].run(t, "pin", "rm", c.String())
	ds[1].run(t, "repo", "gc")
	if ds[1].hasBlock(t, leaves[0]) {
		t.Fatal("gc left the leaf")
	}
	if err := nw.RestartNode(1); err != nil {
		t.Fatal(err)
	}
	p.waitHeld([]int{1}, c, data)

	g := p.grant(owner, rec, bob, time.Time{})
	if _, err := p.deposit(g); err != nil {
		t.Fatal(err)
	}
	p.commit(owner, &ledger.EraseRecord{Record: rec.id})
	waitGone(t, nw.Homes(), g.id)
	waitUntil(t, ctx, func() bool {
		for i := range 4 {
			if has, _ := nw.Node(i).BlobStore().Has(ctx, c); has {
				return false
			}
		}
		for _, d := range ds {
			for _, l := range leaves {
				if d.hasBlock(t, l) {
					return false
				}
			}
		}
		return true
	})
	if err := (&client.Client{}).FetchBlob(ctx, p.nodes, c, io.Discard); !errors.Is(err, client.ErrBlobErased) {
		t.Fatalf("fetch after erase: %v", err)
	}
	var ts ledger.Tombstone
	if _, err := nw.Node(2).Client().Query(ctx, "/tombstone/"+rec.id.String(), &ts); err != nil || string(ts.CID) != c.String() {
		t.Fatalf("tombstone: %+v, %v", ts, err)
	}
}
