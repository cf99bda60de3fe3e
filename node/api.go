package node

import (
	"net/http"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// apiHandler is the node's HTTP API, served on the address the node registry publishes
// (docs/api.md). Each concern registers its own routes; anything else is a JSON not_found.
func (n *Node) apiHandler() http.Handler {
	mux := http.NewServeMux()
	px := n.px.svc.Handler() // re-encryption proxy: deposits and re-encryption (proxy/SPEC.md)
	mux.Handle(protocol.RouteDeposit, px)
	mux.Handle(protocol.RouteReencrypt, px)
	n.registerBlobs(mux)                       // blobs: upload, read, CAR (blobs/SPEC.md)
	n.registerLedgerAPI(mux, n.sources)        // ledger: transactions, queries, status (ledgerapi.go)
	mux.HandleFunc(routeHealth, n.serveHealth) // load balancers: can this node serve now (health.go)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrNotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}
