package node

import (
	"sync"

	"github.com/cometbft/cometbft/blocksync"
	cfg "github.com/cometbft/cometbft/config"
	cs "github.com/cometbft/cometbft/consensus"
	mempl "github.com/cometbft/cometbft/mempool"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	cmtproxy "github.com/cometbft/cometbft/proxy"
	sm "github.com/cometbft/cometbft/state"
	"github.com/cometbft/cometbft/statesync"
	"github.com/prometheus/client_golang/prometheus"
)

// defaultRegistererMu serialises cometMetrics's borrowing of prometheus.DefaultRegisterer.
var defaultRegistererMu sync.Mutex

// cometMetrics is CometBFT's own metrics provider, registering into reg instead of the
// process's default registry: CometBFT's generated constructors (consensus, p2p, mempool,
// state, proxy, blocksync, statesync) register through go-kit's NewCounterFrom and the like,
// which always use prometheus.DefaultRegisterer, so two nodes in one process — every
// LocalNet — would register the same names twice and panic. Swapping the default registerer
// for the few microseconds of construction keeps CometBFT's names, help and buckets exactly
// as its documentation gives them, with no copy of its definitions to keep in step. Nothing
// else in the process registers with the default at run time (CometBFT's own Prometheus
// server, which would, stays off: Instrumentation.Prometheus is false). reg nil: CometBFT's
// no-op metrics.
func cometMetrics(reg prometheus.Registerer, namespace string) nm.MetricsProvider {
	if reg == nil {
		return nm.DefaultMetricsProvider(&cfg.InstrumentationConfig{Prometheus: false})
	}
	on := nm.DefaultMetricsProvider(&cfg.InstrumentationConfig{Prometheus: true, Namespace: namespace})
	return func(chainID string) (*cs.Metrics, *p2p.Metrics, *mempl.Metrics, *sm.Metrics, *cmtproxy.Metrics, *blocksync.Metrics, *statesync.Metrics) {
		defaultRegistererMu.Lock()
		defer defaultRegistererMu.Unlock()
		saved := prometheus.DefaultRegisterer
		prometheus.DefaultRegisterer = reg
		defer func() { prometheus.DefaultRegisterer = saved }()
		return on(chainID)
	}
}
