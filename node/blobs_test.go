package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/blobs"
	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Blobs are a little over two chunks (256 KiB each), so their DAG has an
// internal node and three raw leaves: enough to corrupt one leaf.
const blobSize = 600 << 10

func randomBlob(t *testing.T) []byte {
	b := make([]byte, blobSize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// upload sends data to node i as owner and returns its CID.
func (p *pnet) upload(owner *puser, i int, data []byte) cid.Cid {
	p.t.Helper()
	c, err := (&client.API{}).UploadBlob(p.ctx, p.nodes[i], p.chain, owner.id.Signer(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		p.t.Fatalf("upload to node %d: %v", i, err)
	}
	return c
}

// putBlob commits a record whose blob is c.
func (p *pnet) putBlob(owner *puser, c cid.Cid, size int) *precord {
	p.t.Helper()
	id := protocol.RecordID(p.chain, owner.pk, owner.seq)
	dk, err := owner.id.DelegatingKey(id[:])
	if err != nil {
		p.t.Fatal(err)
	}
	r := &precord{id: id, delegating: dk, fileKey: bytes.Repeat([]byte{0x5a}, 32)}
	if r.capsule, r.ciphertext, err = umbral.Encrypt(dk.PublicKey(), r.fileKey); err != nil {
		p.t.Fatal(err)
	}
	b := &protocol.PutRecord{CID: []byte(c.String()), Size: uint64(size), DelegatingKey: protocol.PubKeyOf(dk.PublicKey())}
	cb, _ := r.capsule.MarshalBinary()
	copy(b.Capsule[:], cb)
	p.commit(owner, b)
	return r
}

// commit is pnet.submit with the test's deadline instead of 30 s: on a
// loaded machine a restarted node can take longer to catch up.
func (p *pnet) commit(u *puser, body protocol.Body) {
	p.t.Helper()
	tx := &protocol.Tx{ChainID: p.chain, Sequence: u.seq, Expires: time.Now().Add(10 * time.Minute).UnixNano(), Body: body}
	if err := tx.Sign(u.id.Signer()); err != nil {
		p.t.Fatal(err)
	}
	c, err := p.nw.Node(3).RPC().Submit(p.ctx, tx.Encode())
	if err != nil {
		p.t.Fatalf("%s: %v", body.Type(), err)
	}
	u.seq++
	waitUntil(p.t, p.ctx, func() bool {
		for _, n := range p.nw.Running() {
			if h, _, _ := n.App().LastCommit(); h < c.Height {
				return false
			}
		}
		return true
	})
}

// holds reports whether running node i's store has every block of c.
func holds(t *testing.T, nw *node.LocalNet, i int, c cid.Cid, want []byte) bool {
	n := nw.Node(i)
	if n == nil {
		return false
	}
	rc, err := n.BlobStore().Get(context.Background(), c)
	if err != nil {
		return false
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	return err == nil && bytes.Equal(got, want)
}

func (p *pnet) waitHeld(nodes []int, c cid.Cid, data []byte) {
	p.t.Helper()
	waitUntil(p.t, p.ctx, func() bool {
		for _, i := range nodes {
			if !holds(p.t, p.nw, i, c, data) {
				return false
			}
		}
		return true
	})
}

func (p *pnet) waitHolders(rec protocol.ID, n int) {
	p.t.Helper()
	waitUntil(p.t, p.ctx, func() bool {
		var r protocol.Record
		if _, err := p.nw.Node(3).RPC().Query(p.ctx, "/record/"+rec.String(), &r); err != nil {
			return false
		}
		return len(r.Holders) == n && r.Replicas == 4
	})
}

// blockFiles returns the paths of the block files under an embedded
// store whose content equals one of the chunks.
func blockFiles(t *testing.T, home string, chunks [][]byte) []string {
	var out []string
	root := filepath.Join(home, "data", "blobs", "store", "blocks")
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".data") {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, c := range chunks {
			if bytes.Equal(b, c) {
				out = append(out, path)
			}
		}
		return nil
	})
	return out
}

func chunksOf(data []byte) [][]byte {
	var out [][]byte
	for off := 0; off < len(data); off += 256 << 10 {
		out = append(out, data[off:min(off+256<<10, len(data))])
	}
	return out
}

func TestBlobNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	nw, err := node.StartLocalNet(ctx, t.TempDir(), node.LocalNetOptions{ChainID: "rr-blob-net", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Stop() })
	p := &pnet{t: t, ctx: ctx, nw: nw, chain: nw.ChainID()}
	reg, err := p.snapshot().Nodes()
	if err != nil {
		t.Fatal(err)
	}
	p.nodes = reg
	owner, bob := newPUser(t), newPUser(t)
	all := []int{0, 1, 2, 3}
	cl := &client.API{}

	dataA := randomBlob(t)
	var recA *precord
	var cidA cid.Cid
	t.Run("upload to one node, all four hold it after the commit", func(t *testing.T) {
		cidA = p.upload(owner, 0, dataA)
		if !holds(t, nw, 0, cidA, dataA) || holds(t, nw, 1, cidA, dataA) {
			t.Fatal("before the record only the receiving node holds the upload")
		}
		recA = p.putBlob(owner, cidA, len(dataA))
		p.waitHeld(all, cidA, dataA)
		p.waitHolders(recA.id, 4)
		var got bytes.Buffer
		if err := cl.FetchBlob(ctx, p.nodes[2:3], cidA, &got); err != nil || !bytes.Equal(got.Bytes(), dataA) {
			t.Fatalf("fetch from node 2: %v", err)
		}
		part, err := cl.FetchBlobRange(ctx, p.nodes[1:2], cidA, 300_000, 1000)
		if err != nil || !bytes.Equal(part, dataA[300_000:301_000]) {
			t.Fatalf("range from node 1: %v", err)
		}
		// An erasable blob, and any answer about one, must not sit in a cache.
		for _, path := range []string{cidA.String(), cidA.String() + "/car", "bafkqaaa", "not-a-cid"} {
			resp, err := http.Get(p.nodes[2].URL() + "/v1/blobs/" + path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("GET /v1/blobs/%s: HTTP %d, Cache-Control %q", path, resp.StatusCode, cc)
			}
		}
	})

	t.Run("uploads need a fresh signature for this node, once, within the size limit", func(t *testing.T) {
		post := func(h http.Header, body []byte) int {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.nodes[1].URL()+"/v1/blobs", bytes.NewReader(body))
			for k, v := range h {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		body := []byte("hello blob")
		sign := func(node protocol.PubKey, size int64, at time.Time) http.Header {
			a, err := protocol.SignUpload(owner.id.Signer(), p.chain, node, size, at)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			a.SetHeaders(h)
			return h
		}
		if got := post(http.Header{}, body); got != 401 {
			t.Fatalf("unsigned: %d", got)
		}
		if got := post(sign(p.nodes[0].ProxyKey, 10, time.Now()), body); got != 401 {
			t.Fatalf("signed for another node: %d", got)
		}
		if got := post(sign(p.nodes[1].ProxyKey, 10, time.Now().Add(-time.Hour)), body); got != 401 {
			t.Fatalf("stale: %d", got)
		}
		if got := post(sign(p.nodes[1].ProxyKey, 5, time.Now()), body); got != 400 {
			t.Fatalf("size differs from the signed size: %d", got)
		}
		if got := post(sign(p.nodes[1].ProxyKey, blobs.DefaultMaxUpload+1, time.Now()), nil); got != 413 {
			t.Fatalf("over the limit: %d", got)
		}
		h := sign(p.nodes[1].ProxyKey, 10, time.Now())
		if got := post(h, body); got != 201 {
			t.Fatalf("good upload: %d", got)
		}
		if got := post(h, body); got != 401 {
			t.Fatalf("replayed upload: %d", got)
		}
		// Never recorded: the sweep deletes it once the grace period is over.
		c, _, _ := cidOf(body)
		svc := nw.Node(1).Blobs()
		svc.Sweep(ctx, time.Now())
		if !holds(t, nw, 1, c, body) {
			t.Fatal("upload deleted before its grace period")
		}
		svc.Sweep(ctx, time.Now().Add(2*blobs.DefaultGrace))
		if holds(t, nw, 1, c, body) {
			t.Fatal("expired upload not deleted")
		}
	})

	t.Run("a corrupt block fails verification, the client reads elsewhere, repair replaces it", func(t *testing.T) {
		files := blockFiles(t, nw.Homes()[1], chunksOf(dataA)[1:2])
		if len(files) != 1 {
			t.Fatalf("found %d copies of the second leaf on node 1", len(files))
		}
		b, _ := os.ReadFile(files[0])
		b[100] ^= 0xff
		if err := os.WriteFile(files[0], b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := cl.FetchBlob(ctx, p.nodes[1:2], cidA, io.Discard); !errors.Is(err, client.ErrBlobUnavailable) {
			t.Fatalf("read from the damaged node: %v", err)
		}
		var got bytes.Buffer
		if err := cl.FetchBlob(ctx, []protocol.Node{p.nodes[1], p.nodes[2]}, cidA, &got); err != nil || !bytes.Equal(got.Bytes(), dataA) {
			t.Fatalf("fallback read: %v", err)
		}
		p.waitHeld([]int{1}, cidA, dataA)
	})

	dataB := randomBlob(t)
	t.Run("a node that was down and lost its disk repairs on start", func(t *testing.T) {
		if err := nw.StopNode(2); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(nw.Homes()[2], "data", "blobs", "store")); err != nil {
			t.Fatal(err)
		}
		cidB := p.upload(owner, 0, dataB)
		recB := p.putBlob(owner, cidB, len(dataB))
		p.waitHeld([]int{0, 1, 3}, cidB, dataB)
		if err := nw.RestartNode(2); err != nil {
			t.Fatal(err)
		}
		p.waitHeld(all, cidB, dataB)
		p.waitHeld(all, cidA, dataA)
		p.waitHolders(recB.id, 4)
	})

	t.Run("erase revokes grants, deletes every block, leaves a tombstone", func(t *testing.T) {
		g := p.grant(owner, recA, bob, time.Time{})
		if _, err := p.deposit(g); err != nil {
			t.Fatal(err)
		}
		p.commit(owner, &protocol.EraseRecord{Record: recA.id})
		waitGone(t, nw, g.id)
		waitUntil(t, ctx, func() bool {
			for _, i := range all {
				if has, _ := nw.Node(i).BlobStore().Has(ctx, cidA); has {
					return false
				}
				if len(blockFiles(t, nw.Homes()[i], chunksOf(dataA))) != 0 {
					return false
				}
			}
			return true
		})
		s := p.snapshot()
		if gs, err := s.Grant(g.id); err != nil || !gs.Revoked {
			t.Fatalf("grant after erase: %+v, %v", gs, err)
		}
		var ts protocol.Tombstone
		if _, err := nw.Node(0).RPC().Query(ctx, "/tombstone/"+recA.id.String(), &ts); err != nil || string(ts.CID) != cidA.String() {
			t.Fatalf("tombstone: %+v, %v", ts, err)
		}
		if err := cl.FetchBlob(ctx, p.nodes, cidA, io.Discard); !errors.Is(err, client.ErrBlobErased) {
			t.Fatalf("fetch after erase: %v", err)
		}
		tx := &protocol.Tx{ChainID: p.chain, Sequence: owner.seq, Expires: time.Now().Add(10 * time.Minute).UnixNano(), Body: p.grantBody(recA, bob)}
		if err := tx.Sign(owner.id.Signer()); err != nil {
			t.Fatal(err)
		}
		if _, err := nw.Node(3).RPC().Submit(ctx, tx.Encode()); !errors.Is(err, protocol.ErrRecordErased) {
			t.Fatalf("grant after erase: %v", err)
		}
	})
}

func (p *pnet) grantBody(rec *precord, to *puser) *protocol.Grant {
	f, err := client.MakeFragments(rec.delegating, newPUser(p.t).id.Signer(), to.id.Public().Receiving, p.keys(), 0)
	if err != nil {
		p.t.Fatal(err)
	}
	return &protocol.Grant{Record: rec.id, OwnerEnc: to.pk, RecipientSig: to.pk, RecipientEnc: protocol.PubKeyOf(to.id.Public().Receiving), Nodes: f.Nodes}
}

func cidOf(b []byte) (cid.Cid, int64, error) { return localCID(bytes.NewReader(b)) }

var localCID = local.CID

func waitUntil(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not reached")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// testLogger shows the blob service's warnings (set RREC_BLOB_LOG=1);
// CometBFT's own chatter would drown them.
func testLogger() *slog.Logger {
	if os.Getenv("RREC_BLOB_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
