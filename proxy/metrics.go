package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// metrics are what the proxy counts for its operator (node/SPEC.md, "Metrics"). Labels
// come from bounded sets only — a route name and a refusal code — never a grant, a key or a
// record: a label value is kept, and exported, for the life of the process.
type metrics struct {
	deposits      prometheus.Counter
	reencryptions prometheus.Counter
	refusals      *prometheus.CounterVec // route, code
}

// Route labels of the refusals counter.
const (
	routeDeposit   = "deposit"
	routeReencrypt = "reencrypt"
)

// newMetrics makes the service's metrics and, if reg is not nil, registers them there with
// a gauge of the vault's size. Unregistered, they count for nobody: cheaper than asking
// "is anyone listening?" at every request.
func newMetrics(reg prometheus.Registerer, v *Vault) *metrics {
	m := &metrics{
		deposits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "rrec", Subsystem: "proxy",
			Name: "deposits_total", Help: "Key fragments deposited and stored in the vault."}),
		reencryptions: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "rrec", Subsystem: "proxy",
			Name: "reencryptions_total", Help: "Capsule fragments made for committed access requests."}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "rrec", Subsystem: "proxy",
			Name: "refusals_total", Help: "Deposits and re-encryption requests refused, by route and error code."},
			[]string{"route", "code"}),
	}
	if reg != nil {
		reg.MustRegister(m.deposits, m.reencryptions, m.refusals,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "rrec", Subsystem: "proxy",
				Name: "vault_fragments", Help: "Key fragments the vault holds."},
				func() float64 { return float64(v.Len()) }))
	}
	return m
}

// outcome counts one request of route that ended with err (nil: served).
func (m *metrics) outcome(route string, err error) {
	switch {
	case err != nil:
		m.refusals.WithLabelValues(route, protocol.ErrorOf(err).Code).Inc()
	case route == routeDeposit:
		m.deposits.Inc()
	default:
		m.reencryptions.Inc()
	}
}
