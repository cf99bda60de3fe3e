package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// benchLedger is committed state on goleveldb, as a node keeps it, filled by the ledger's
// own state machine: what the benchmarks reconcile against at 10k to 1M grants. Signatures
// are real; Execute is told they were verified (as a node's signature cache does), which
// spares the fixture a verification per transaction and changes no state.
type benchLedger struct {
	db      *leveldb.DB
	chainID string
	nodes   ledger.Registry
	height  int64
	time    int64
	state   *ledger.StateHash
	appHash []byte
}

// levelReader is what *leveldb.DB and *leveldb.Snapshot both offer.
type levelReader interface {
	Get(key []byte, ro *opt.ReadOptions) ([]byte, error)
	NewIterator(r *util.Range, ro *opt.ReadOptions) iterator.Iterator
}

type levelStore struct{ r levelReader }

func (s levelStore) Get(k []byte) ([]byte, error) {
	v, err := s.r.Get(k, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, nil
	}
	if err == nil && v == nil {
		v = []byte{} // present, empty: not absent (as node's levelStore)
	}
	return v, err
}

func (s levelStore) Iterate(prefix, start []byte, fn func(k, v []byte) bool) error {
	r := util.BytesPrefix(prefix)
	if bytes.Compare(start, r.Start) > 0 {
		r.Start = start
	}
	it := s.r.NewIterator(r, nil)
	defer it.Release()
	for it.Next() {
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	return it.Error()
}

func (l *benchLedger) Committed() (*ledger.Snapshot, error) {
	s, err := l.db.GetSnapshot()
	if err != nil {
		return nil, err
	}
	return ledger.NewSnapshot(levelStore{s}, s.Release, l.chainID, l.height, l.time, l.appHash), nil
}

func (l *benchLedger) apply(ws []ledger.Write) error {
	b := new(leveldb.Batch)
	for _, w := range ws {
		if w.Value == nil {
			b.Delete(w.Key)
		} else {
			b.Put(w.Key, w.Value)
		}
	}
	return l.db.Write(b, nil)
}

// block executes txs as the next block and checks every one committed.
func (l *benchLedger) block(txs [][]byte) error {
	l.height++
	l.time += int64(time.Second)
	x, err := ledger.Execute(levelStore{l.db}, l.chainID, l.nodes, l.state, ledger.Block{Height: l.height, Time: l.time, Txs: txs},
		func(protocol.Hash32) bool { return true })
	if err != nil {
		return err
	}
	for i, r := range x.Results {
		if r.Code != 0 {
			return fmt.Errorf("height %d, tx %d: code %d: %s", l.height, i, r.Code, r.Log)
		}
	}
	l.state, l.appHash = x.State, x.AppHash
	return l.apply(x.Writes)
}

// newBenchLedger starts a chain in dir whose registry is node (this node's proxy key) and
// three others, then commits, in blocks of a few thousand: live grants on all four nodes
// (their ids returned), a thousand owners' worth at most per record, and owed more grants
// that are revoked, which this node owes reports for and never sends.
func newBenchLedger(tb testing.TB, dir string, node *umbral.SecretKey, live, owed int) (*benchLedger, []protocol.ID) {
	tb.Helper()
	db, err := leveldb.OpenFile(dir, nil) // as the node opens its ledger
	if err != nil {
		tb.Fatal(err)
	}
	const chainID = "rr-vault-bench"
	keys := []protocol.PubKey{protocol.PubKeyOf(node.PublicKey())}
	for range 3 {
		keys = append(keys, protocoltest.NewAccount(chainID).Key)
	}
	var gs ledger.GenesisState
	for i, k := range keys {
		gs.Nodes = append(gs.Nodes, protocol.Node{Name: fmt.Sprint("n", i), API: "http://127.0.0.1:1", ProxyKey: k})
	}
	raw, _ := json.Marshal(gs)
	ws, hash, err := ledger.Genesis(raw)
	if err != nil {
		tb.Fatal(err)
	}
	l := &benchLedger{db: db, chainID: chainID, time: time.Now().UnixNano(), state: hash, appHash: hash.AppHash()}
	if err := l.apply(ws); err != nil {
		tb.Fatal(err)
	}
	if l.nodes, err = ledger.LoadRegistry(levelStore{db}); err != nil {
		tb.Fatal(err)
	}
	const perRecord, perBlock = 1000, 5000
	var ids, revoke []protocol.ID
	revoked := 0
	var txs [][]byte
	flush := func() {
		if err := l.block(txs); err != nil {
			tb.Fatal(err)
		}
		txs = txs[:0]
	}
	recipient := protocoltest.NewAccount(chainID).Key
	for total := live + owed; len(ids)+revoked < total; {
		owner := protocoltest.NewAccount(chainID)
		owner.Clock = func() time.Time { return time.Unix(0, l.time) } // expiry by block time
		rec := owner.RecordID()
		txs = append(txs, owner.Next(protocoltest.PutRecord(fmt.Sprintf("bafkrei-%x", rec[:8]), 1)))
		flush() // the record before its grants
		for range min(perRecord, total-len(ids)-revoked) {
			if len(ids) < live {
				ids = append(ids, owner.GrantID())
			} else {
				revoke = append(revoke, owner.GrantID())
			}
			txs = append(txs, owner.Next(protocoltest.Grant(rec, recipient, keys, 0)))
			if len(txs) == perBlock {
				flush()
			}
		}
		if len(txs) > 0 {
			flush()
		}
		for _, g := range revoke {
			txs = append(txs, owner.Next(&protocol.Revoke{Grant: g}))
		}
		revoked, revoke = revoked+len(revoke), revoke[:0]
		if len(txs) > 0 {
			flush()
		}
	}
	return l, ids
}
