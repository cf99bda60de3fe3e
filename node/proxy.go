package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/resilientrecords/resilientrecords/internal/source"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/proxy"
)

// The node's re-encryption proxy (see proxy/SPEC.md) lives in the home:
//
//	config/vault_key   32-byte key the vault is encrypted under (0600)
//	data/vault/        goleveldb database of encrypted fragments, one per grant (0700)
const (
	vaultKeyFile = "config/vault_key"
	vaultDir     = "data/vault"
)

// minStaleness keeps the freshness bound above consensus noise when the
// empty-block interval is short: a block's time is the median of the
// votes for the block before it, so after an idle interval and a failed
// round or two on a busy host it already lags the wall clock by seconds.
const minStaleness = 10 * time.Second

// staleness is how old the last committed block may be before the node counts itself cut
// off: three empty-block intervals, at least minStaleness. The proxy refuses to re-encrypt
// past it, and the health route answers 503.
func staleness(t Timing) time.Duration {
	return max(3*time.Duration(t.EmptyBlocksInterval), minStaleness)
}

// proxyServer is a node's vault, re-encryption service and API server.
type proxyServer struct {
	vault *proxy.Vault
	svc   *proxy.Service
	srv   *http.Server
	log   *slog.Logger
	// sources keys the proxy's per-source limits; set before attach. Nil keys by peer
	// address and believes no forwarding header, the only safe choice until the operator
	// names the reverse proxies in front of the node.
	sources *source.Resolver
	// metrics is the node's registry for the proxy's metrics (nil: none); set before attach.
	metrics prometheus.Registerer
}

// openVault opens the vault before the ledger, whose commit hook must
// delete fragments from it.
func openVault(home string, lg *slog.Logger) (*proxyServer, error) {
	v, err := proxy.OpenVault(filepath.Join(home, vaultDir), filepath.Join(home, vaultKeyFile), lg)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return &proxyServer{vault: v, log: lg}, nil
}

// onCommit deletes fragments of grants the block ended, then runs the
// caller's hook.
func (p *proxyServer) onCommit(next func(ledger.CommitInfo)) func(ledger.CommitInfo) {
	return func(ci ledger.CommitInfo) {
		p.vault.OnCommit(ci)
		if next != nil {
			next(ci)
		}
	}
}

// attach builds the service over the opened ledger and reconciles the
// vault against committed state, before anything is served.
func (p *proxyServer) attach(home string, app *App, s Settings) error {
	sk, err := LoadProxyKey(home)
	if err != nil {
		return err
	}
	p.svc, err = proxy.New(proxy.Config{Ledger: app, ProxyKey: sk, Vault: p.vault, Logger: p.log,
		MaxStaleness: staleness(s.Timing), Sources: p.sources, Metrics: p.metrics})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n, err := p.svc.Reconcile()
	if err != nil {
		return fmt.Errorf("node: reconciling the vault: %w", err)
	}
	if n > 0 {
		p.log.Info("vault reconciled at start", "deleted", n)
	}
	return nil
}

// listen serves the node's HTTP API (see api.go) on addr ("" serves nothing).
func (p *proxyServer) listen(addr string, h http.Handler) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("node: proxy API: %w", err)
	}
	p.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second,
		MaxHeaderBytes: 8 << 10, ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("proxy API stopped", "err", err)
		}
	}()
	return nil
}

func (p *proxyServer) close() error {
	if p == nil || p.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		return p.srv.Close()
	}
	return nil
}

// Proxy is the node's re-encryption service.
func (n *Node) Proxy() *proxy.Service { return n.px.svc }

// Vault is the node's fragment vault.
func (n *Node) Vault() *proxy.Vault { return n.px.vault }
