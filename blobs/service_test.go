package blobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/ledger/ledgertest"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// single is one service over a real ledger app (genesis only, no
// CometBFT) and an embedded store, served with the node API's short
// whole-request timeouts scaled down.
type single struct {
	svc   *Service
	url   string
	chain string
	node  protocol.PubKey
}

func newSingle(t *testing.T, timeout time.Duration, tune func(*Config)) *single {
	t.Helper()
	sk, _ := umbral.GenerateSecretKey()
	nodeKey := protocol.PubKeyOf(sk.PublicKey())
	app, err := ledgertest.New("rr-solo", ledger.GenesisState{Nodes: []protocol.Node{{Name: "solo", API: "http://127.0.0.1:1", ProxyKey: nodeKey}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := local.Open(filepath.Join(t.TempDir(), "store"), &local.Options{MaxSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := Config{Store: st, Ledger: app, Signer: umbral.NewSigner(sk), Dir: t.TempDir(),
		MaxUpload: 8 << 20, Report: func(context.Context, protocol.Body) error { return nil }}
	if tune != nil {
		tune(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(svc.Handler())
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = timeout, timeout
	srv.Start()
	t.Cleanup(srv.Close)
	return &single{svc: svc, url: srv.URL, chain: "rr-solo", node: nodeKey}
}

// slowReader yields its bytes in pieces, pausing before each.
type slowReader struct {
	b     []byte
	piece int
	left  int // of the current piece
	pause time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if r.left == 0 {
		time.Sleep(r.pause)
		r.left = r.piece
	}
	n := copy(p[:min(len(p), r.left)], r.b)
	r.b, r.left = r.b[n:], r.left-n
	return n, nil
}

// An upload and a download that each take several times the server's
// whole-request timeout complete, because they keep making progress.
func TestSlowTransfersOutliveServerTimeouts(t *testing.T) {
	s := newSingle(t, 300*time.Millisecond, nil)
	data := make([]byte, 1<<20)
	rand.Read(data)
	sk, _ := umbral.GenerateSecretKey()
	auth, err := protocol.SignUpload(umbral.NewSigner(sk), s.chain, s.node, int64(len(data)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/blobs", &slowReader{b: data, piece: 128 << 10, pause: 200 * time.Millisecond})
	req.ContentLength = int64(len(data))
	auth.SetHeaders(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ans struct{ CID string }
	json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	want, _, _ := local.CID(bytes.NewReader(data))
	if resp.StatusCode != http.StatusCreated || ans.CID != want.String() {
		t.Fatalf("slow upload: HTTP %d, cid %q", resp.StatusCode, ans.CID)
	}

	resp, err = http.Get(s.url + "/v1/blobs/" + want.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		time.Sleep(100 * time.Millisecond) // a slow reader: 16 pauses
		n, err := io.ReadFull(resp.Body, buf)
		got.Write(buf[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("slow download after %d bytes: %v", got.Len(), err)
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("slow download differs")
	}
}

func TestUploadQuotaAndMarkers(t *testing.T) {
	s := newSingle(t, 5*time.Second, nil)
	sk, _ := umbral.GenerateSecretKey()
	signer := umbral.NewSigner(sk)
	put := func(n int) int {
		data := make([]byte, n)
		rand.Read(data)
		auth, _ := protocol.SignUpload(signer, s.chain, s.node, int64(n), time.Now())
		req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/blobs", bytes.NewReader(data))
		auth.SetHeaders(req.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// MaxPending is 2 × 8 MiB: two 7 MiB uploads fit, a third does not.
	for i, want := range []int{201, 201, 429} {
		if got := put(7 << 20); got != want {
			t.Fatalf("upload %d: HTTP %d, want %d", i, got, want)
		}
	}
	if got := put(9 << 20); got != 413 {
		t.Fatalf("oversized upload: HTTP %d", got)
	}
	// Markers survive a restart of the service.
	again, err := loadMarkers(s.svc.cfg.Dir)
	if err != nil || len(again) != 2 {
		t.Fatalf("markers on disk: %d, %v", len(again), err)
	}
	s.svc.Sweep(context.Background(), time.Now().Add(2*DefaultGrace))
	if roots, _ := s.svc.cfg.Store.List(context.Background()); len(roots) != 0 {
		t.Fatalf("%d uploads left after the grace period", len(roots))
	}
	if got := put(7 << 20); got != 201 {
		t.Fatalf("quota not released by the sweep: HTTP %d", got)
	}
}
