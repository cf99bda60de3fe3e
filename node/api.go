package node

import "net/http"

// apiHandler is the node's HTTP API, served on the address the node registry publishes
// (docs/api.md). Each concern registers its own routes; the most specific pattern wins.
func (n *Node) apiHandler() http.Handler {
	mux := http.NewServeMux()
	// Re-encryption proxy: fragment deposits and re-encryption (proxy/SPEC.md).
	mux.Handle("/", n.px.svc.Handler())
	n.registerBlobs(mux)     // blobs: upload, read, CAR, replication (blobs/SPEC.md)
	n.registerLedgerAPI(mux) // ledger: transactions, queries, status (ledgerapi.go)
	return mux
}
