package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// MetricsSettings configure the node's Prometheus metrics (config/node.json "metrics").
type MetricsSettings struct {
	// Listen is the address of the metrics listener, host:port (GET /metrics). Empty: no
	// metrics are collected or served. It is never the API's address: metrics show when and
	// how much the node works, which no client of the API needs (node/SPEC.md, "Metrics").
	Listen string `json:"listen,omitempty"`
}

// metricsPath is the one route of the metrics listener.
const metricsPath = "/metrics"

// newRegistry is a node's own registry, with the Go runtime's and the process's collectors:
// nil when the settings serve no metrics. One per node, never the package-level default, so
// that the nodes of a LocalNet, and tests, count apart.
func newRegistry(s MetricsSettings) *prometheus.Registry {
	if s.Listen == "" {
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// registerer is reg as the packages take it: a nil interface, not a typed nil, when there is
// none.
func registerer(reg *prometheus.Registry) prometheus.Registerer {
	if reg == nil {
		return nil
	}
	return reg
}

// appMetrics are the ledger's figures as this node's App sees them: what its blocks held and
// what its CheckTx refused. They are counted beside the state machine, never in it: nothing
// here reaches the state, the app hash or an answer.
type appMetrics struct {
	txs       *prometheus.CounterVec // type, code
	refused   *prometheus.CounterVec // code
	height    prometheus.Gauge
	blockTime prometheus.Gauge
	restore   *prometheus.CounterVec // what: chunk, snapshot

	// Time spent in the state machine: per block executed, per CheckTx (new or recheck) and
	// per block persisted. A benchmark divides the sums by txs_total for a cost per transaction.
	finalize prometheus.Histogram
	check    *prometheus.HistogramVec // kind: new, recheck
	commit   prometheus.Histogram
}

func (m *appMetrics) chunkRefused()    { m.restore.WithLabelValues("chunk").Inc() }
func (m *appMetrics) snapshotRefused() { m.restore.WithLabelValues("snapshot").Inc() }

func newAppMetrics(reg prometheus.Registerer) *appMetrics {
	m := &appMetrics{
		txs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "rrec", Subsystem: "ledger",
			Name: "txs_total", Help: "Transactions in finalized blocks, by type and result code."},
			[]string{"type", "code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "rrec", Subsystem: "ledger",
			Name: "checktx_refusals_total", Help: "New transactions this node's CheckTx refused, by result code."},
			[]string{"code"}),
		height: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rrec", Subsystem: "ledger",
			Name: "height", Help: "Last committed height."}),
		blockTime: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rrec", Subsystem: "ledger",
			Name: "block_time_seconds", Help: "Block time of the last committed block, unix seconds."}),
		restore: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "rrec", Subsystem: "ledger",
			Name: "snapshot_refusals_total", Help: "What state sync offered this node and it refused: chunks that were not the ones their snapshot names, and forged snapshots."},
			[]string{"what"}),
		check: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "rrec", Subsystem: "ledger",
			Name: "checktx_seconds", Help: "Time in CheckTx, by kind (new or recheck).",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 8)}, []string{"kind"}),
	}
	m.finalize = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "rrec", Subsystem: "ledger",
		Name: "finalize_block_seconds", Help: "Time executing a block's transactions (FinalizeBlock).",
		Buckets: prometheus.ExponentialBuckets(100e-6, 4, 8)})
	m.commit = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "rrec", Subsystem: "ledger",
		Name: "commit_seconds", Help: "Time persisting a block's writes (Commit).",
		Buckets: prometheus.ExponentialBuckets(100e-6, 4, 8)})
	if reg != nil {
		reg.MustRegister(m.txs, m.refused, m.height, m.blockTime, m.restore, m.check, m.finalize, m.commit)
	}
	return m
}

// txTypeLabel is the type of an encoded transaction (its second byte), from the bounded set
// of known types: a block can hold only what ProcessProposal decoded, but a label must not
// take a value from bytes someone else chose.
func txTypeLabel(raw []byte) string {
	if len(raw) < 2 {
		return "unknown"
	}
	name := protocol.TxType(raw[1]).String()
	if strings.HasPrefix(name, "tx_type_") {
		return "unknown"
	}
	return name
}

func (m *appMetrics) finalized(txs [][]byte, codes func(i int) uint32) {
	for i, raw := range txs {
		m.txs.WithLabelValues(txTypeLabel(raw), protocol.CodeName(codes(i))).Inc()
	}
}

func checkKind(t abci.CheckTxType) string {
	if t == abci.CheckTxType_New {
		return "new"
	}
	return "recheck"
}

func (m *appMetrics) committed(height, blockTime int64) {
	m.height.Set(float64(height))
	m.blockTime.Set(float64(blockTime) / 1e9)
}

// metricsServer serves one registry on its own listener.
type metricsServer struct {
	srv  *http.Server
	addr string // where it listens, port resolved
}

// serveMetrics listens on addr and serves reg at /metrics, anything else 404.
func serveMetrics(addr string, reg *prometheus.Registry, lg *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node: metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(lg.Handler(), slog.LevelWarn), MaxRequestsInFlight: 4, Timeout: 10 * time.Second}))
	m := &metricsServer{addr: ln.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 15 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 8 << 10,
		ErrorLog: slog.NewLogLogger(lg.Handler(), slog.LevelWarn)}}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			lg.Error("metrics listener stopped", "err", err)
		}
	}()
	return m, nil
}

func (m *metricsServer) close() error {
	if m == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil {
		return m.srv.Close()
	}
	return nil
}

// MetricsAddr is where the node serves its metrics (host:port, the port resolved), or ""
// when it serves none or is not started.
func (n *Node) MetricsAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.metrics == nil {
		return ""
	}
	return n.metrics.addr
}
