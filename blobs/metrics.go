package blobs

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are what the blob service counts for its operator (node/SPEC.md, "Metrics"). No
// label names a blob, a record or an account: label values are kept, and exported, for the
// life of the process, so only bounded sets may be labels.
type metrics struct {
	uploaded prometheus.Counter // bytes of uploads stored
	fetched  prometheus.Counter // bytes of CARs fetched from peers
	served   prometheus.Counter // bytes of blobs and CARs sent to clients and peers
}

// newMetrics makes the service's metrics and, if reg is not nil, registers them there with
// gauges of its replication queue. Unregistered, they count for nobody.
func newMetrics(reg prometheus.Registerer, q *queue) *metrics {
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "rrec", Subsystem: "blobs",
		Name: "bytes_total", Help: "Bytes of blobs uploaded to this node, fetched from peers, and served."},
		[]string{"direction"})
	m := &metrics{uploaded: bytes.WithLabelValues("uploaded"), fetched: bytes.WithLabelValues("fetched"),
		served: bytes.WithLabelValues("served")}
	if reg != nil {
		reg.MustRegister(bytes,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "rrec", Subsystem: "blobs",
				Name: "queue_length", Help: "Records waiting for a replication worker."},
				func() float64 { return float64(q.backlog()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "rrec", Subsystem: "blobs",
				Name: "replication_lag_records", Help: "Committed records whose blob this node has yet to store and report: queued, running or backing off."},
				func() float64 { return float64(q.lag()) }))
	}
	return m
}
