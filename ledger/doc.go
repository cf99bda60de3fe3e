// Package ledger is the ledger's state machine: the rules every node applies to the
// transactions of each block, deterministically, and the queries of committed state.
//
// It does no I/O. Its entry points are functions of committed state (a Store) and their
// input: Genesis (the registry), Mempool.Check (CheckTx), Execute (a block, giving each
// transaction's outcome, the events, the writes and the next app hash) and Snapshot.Query.
// The node's ABCI application (package node) keeps the state in a database, persists the
// writes at Commit and answers CometBFT. The transactions and values themselves are defined
// in package protocol. SPEC.md fixes the rules, the state layout, the app hash, the events
// and the queries.
package ledger
