// Package protocol is what the nodes and their clients say to each other, and nothing else:
// the transaction codec, the values of the ledger's state, the one error type and its table
// of codes, the messages of the re-encryption proxy and of blob uploads, the HTTP API's
// request and answer types, and network.json. SPEC.md writes all of it down byte for byte.
//
// It is a leaf: it imports the umbral package and the standard library (and cryptobyte), so
// a client links it without linking a consensus engine, a database or a block store. The
// ledger's state machine (package ledger) and the node (package node) build on it.
package protocol
