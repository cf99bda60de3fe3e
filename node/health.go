package node

import (
	"net/http"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// routeHealth is the API route for load balancers and probes (docs/api.md).
const routeHealth = "GET /v1/health"

// Health is the answer of GET /v1/health: whether the node can serve now.
type Health struct {
	// Status is "ok" (HTTP 200), or why not (HTTP 503): "catching_up" while CometBFT syncs
	// blocks from its peers, "stale" when the last committed block is older than the
	// staleness bound (the node is cut off, or the chain stalled).
	Status     string `json:"status"`
	Height     int64  `json:"height"`
	Time       int64  `json:"time"`   // block time of Height, unix ns
	AgeMillis  int64  `json:"age_ms"` // how old that block is by this node's clock
	CatchingUp bool   `json:"catching_up"`
	Peers      int    `json:"peers"`
}

// Health values of Status.
const (
	HealthOK         = "ok"
	HealthCatchingUp = "catching_up"
	HealthStale      = "stale"
)

// Health says whether the node can serve now: caught up with its peers, and its last block
// fresh, by the same bound past which its proxy refuses to re-encrypt. A node whose chain is
// idle still commits an empty block every empty_blocks_interval, well within that bound.
func (n *Node) Health() Health {
	h, t, _ := n.app.LastCommit()
	age := time.Since(time.Unix(0, t))
	out := Health{Status: HealthOK, Height: h, Time: t, AgeMillis: age.Milliseconds(),
		CatchingUp: n.cmt.ConsensusReactor().WaitSync(), Peers: n.cmt.Switch().Peers().Size()}
	switch {
	case out.CatchingUp:
		out.Status = HealthCatchingUp
	case age > staleness(n.settings.Timing):
		out.Status = HealthStale
	}
	return out
}

func (n *Node) serveHealth(w http.ResponseWriter, _ *http.Request) {
	h := n.Health()
	status := http.StatusOK
	if h.Status != HealthOK {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store") // true only now
	protocol.WriteJSON(w, status, h)
}
