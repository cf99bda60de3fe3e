package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/resilientrecords/resilientrecords/blobs"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store"
	"github.com/resilientrecords/resilientrecords/store/kubo"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// The node's blob store and service (blobs/SPEC.md) live in the home:
//
//	data/blobs/store/    the embedded store (unless Settings.Blobs.KuboAPI names a daemon)
//	data/blobs/uploads/  markers of uploads not yet in a committed record
//	data/blobs/spool/    transfers in progress (blobs/spool.go), emptied at start
const (
	blobStoreDir   = "data/blobs/store"
	blobUploadsDir = "data/blobs/uploads"
	blobSpoolDir   = "data/blobs/spool"
)

// BlobSettings configure the node's blob store and service (config/node.json "blobs").
type BlobSettings struct {
	// KuboAPI is a kubo daemon's API address (multiaddr, URL or host:port);
	// empty means the embedded store in the home.
	KuboAPI string `json:"kubo_api,omitempty"`
	// MaxUpload bounds one upload in bytes (0: blobs.DefaultMaxUpload).
	MaxUpload int64 `json:"max_upload,omitempty"`
	// UploadGrace is how long an upload may wait for its record before it
	// is deleted (0: blobs.DefaultGrace).
	UploadGrace Duration `json:"upload_grace,omitempty"`
	// SelfUploadRate and SelfUploadBurst pace each self-enrolled account's uploads at this
	// node in bytes a second and bytes; SelfPoolUploadRate and SelfPoolUploadBurst all of
	// theirs together (0: the blobs.DefaultSelf… values). A consortium whose self-service
	// patients upload more, on nodes that can take it, raises them.
	SelfUploadRate      int64 `json:"self_upload_rate,omitempty"`
	SelfUploadBurst     int64 `json:"self_upload_burst,omitempty"`
	SelfPoolUploadRate  int64 `json:"self_pool_upload_rate,omitempty"`
	SelfPoolUploadBurst int64 `json:"self_pool_upload_burst,omitempty"`
}

// check refuses settings no node should run with.
func (s BlobSettings) check() error {
	for name, v := range map[string]int64{"max_upload": s.MaxUpload, "self_upload_rate": s.SelfUploadRate,
		"self_upload_burst": s.SelfUploadBurst, "self_pool_upload_rate": s.SelfPoolUploadRate,
		"self_pool_upload_burst": s.SelfPoolUploadBurst} {
		if v < 0 {
			return fmt.Errorf("node: blobs.%s is %d: it cannot be negative (0 means the default)", name, v)
		}
	}
	if s.UploadGrace < 0 {
		return fmt.Errorf("node: blobs.upload_grace is %v: it cannot be negative (0 means the default)", time.Duration(s.UploadGrace))
	}
	return nil
}

// blobNode holds the store and the service; it exists before the ledger
// opens, because the ledger's commit hook feeds it.
type blobNode struct {
	st  store.Store
	svc atomic.Pointer[blobs.Service]
}

func (b *blobNode) onCommit(next func(ledger.CommitInfo)) func(ledger.CommitInfo) {
	return func(ci ledger.CommitInfo) {
		if s := b.svc.Load(); s != nil {
			s.OnCommit(ci)
		}
		if next != nil {
			next(ci)
		}
	}
}

func openBlobStore(home string, s BlobSettings) (store.Store, error) {
	max := s.MaxUpload
	if max <= 0 {
		max = blobs.DefaultMaxUpload
	}
	if s.KuboAPI != "" {
		st, err := kubo.New(s.KuboAPI, &kubo.Options{MaxSize: max, TempDir: filepath.Join(home, "data", "blobs")})
		if err != nil {
			return nil, fmt.Errorf("node: kubo blob store: %w", err)
		}
		return st, nil
	}
	st, err := local.Open(filepath.Join(home, blobStoreDir), &local.Options{MaxSize: max})
	if err != nil {
		return nil, fmt.Errorf("node: blob store: %w", err)
	}
	return st, nil
}

// openBlobs opens the store and builds the service; the node's client
// broadcasts its HoldsBlob reports.
func (n *Node) openBlobs() error {
	bs := n.settings.Blobs
	st, err := openBlobStore(n.home, bs)
	if err != nil {
		return err
	}
	sk, err := LoadProxyKey(n.home)
	if err != nil {
		st.Close()
		return err
	}
	// The transfer limits are per source, as the rest of the API's are: behind a reverse
	// proxy, every client would otherwise share the proxy's one allowance. Limits not set
	// here take the package's defaults (blobs/SPEC.md §3).
	svc, err := blobs.New(blobs.Config{Store: st, Ledger: n.app, Signer: umbral.NewSigner(sk),
		Report: n.rep.report, Dir: filepath.Join(n.home, blobUploadsDir), SpoolDir: filepath.Join(n.home, blobSpoolDir),
		MaxUpload: bs.MaxUpload, Grace: time.Duration(bs.UploadGrace), Sources: n.sources, Logger: n.log,
		SelfUploadRate: bs.SelfUploadRate, SelfUploadBurst: bs.SelfUploadBurst,
		SelfPoolUploadRate: bs.SelfPoolUploadRate, SelfPoolUploadBurst: bs.SelfPoolUploadBurst,
		Metrics: registerer(n.registry)})
	if err != nil {
		st.Close()
		return fmt.Errorf("node: %w", err)
	}
	n.bl.st = st
	n.bl.svc.Store(svc)
	return nil
}

// broadcastBackground admits raw to the mempool and leaves a goroutine
// that waits for its commit, re-broadcasting it if the mempool drops it.
func (n *Node) broadcastBackground(ctx context.Context, raw []byte) error {
	p, err := n.RPC().Broadcast(ctx, raw)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return errors.New("node: stopping")
	}
	n.bgWork.Add(1)
	go func() {
		defer n.bgWork.Done()
		wctx, cancel := context.WithTimeout(n.bg, time.Minute)
		defer cancel()
		_, _ = p.Wait(wctx)
	}()
	return nil
}

// registerBlobs adds the blob routes to the node's API mux.
func (n *Node) registerBlobs(mux *http.ServeMux) {
	h := n.bl.svc.Load().Handler()
	for _, route := range []string{protocol.RouteUpload, protocol.RouteBlob, protocol.RouteBlobCAR} {
		mux.Handle(route, h)
	}
}

func (b *blobNode) start() {
	if s := b.svc.Load(); s != nil {
		s.Start()
	}
}

func (b *blobNode) stop() error {
	if s := b.svc.Load(); s != nil {
		s.Close()
	}
	if b.st != nil {
		return b.st.Close()
	}
	return nil
}

// Blobs is the node's blob service.
func (n *Node) Blobs() *blobs.Service { return n.bl.svc.Load() }

// BlobStore is the node's blob store.
func (n *Node) BlobStore() store.Store { return n.bl.st }
