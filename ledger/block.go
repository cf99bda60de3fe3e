package ledger

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// The state machine's entry points, one per step of a chain's life: Genesis, Check (the
// mempool), Execute (a block). Each is a function of committed state and its input to writes,
// results and an app hash; the node's ABCI application persists the writes and answers
// CometBFT.

// GenesisState is the app_state of genesis.json.
type GenesisState struct {
	Nodes []protocol.Node `json:"nodes"`
	// Replication is how many nodes hold each record's blob; 0 means all.
	Replication int `json:"replication,omitempty"`
	// Admission is who may send transactions and what each account keeps. Absent, the
	// network is open: any key transacts, with no allowance (tests, a single operator's
	// experiments). The node's tools always write it.
	Admission *protocol.AdmissionRules `json:"admission,omitempty"`
}

// Genesis computes the state InitChain writes: the registry and the replication factor, and
// the genesis state hash (its AppHash is the genesis app hash). It depends on its input only.
func Genesis(appState []byte) ([]Write, *StateHash, error) {
	var gs GenesisState
	if err := json.Unmarshal(appState, &gs); err != nil {
		return nil, nil, fmt.Errorf("ledger: genesis app_state: %w", err)
	}
	o := newOverlay(NewMemStore())
	if err := initState(o, gs.Nodes, gs.Replication, gs.Admission); err != nil {
		return nil, nil, err
	}
	ws := o.sorted()
	var h StateHash
	if err := h.apply(NewMemStore(), ws); err != nil {
		return nil, nil, err
	}
	return ws, &h, nil
}

// Event types and attribute keys (SPEC.md §8).
const (
	EventTx        = "rr.tx"
	EventExpire    = "rr.expire"
	AttrType       = "type"
	AttrTxHash     = "tx_hash"
	AttrSigner     = "signer"
	AttrRecord     = "record_id"
	AttrGrant      = "grant_id"
	AttrResultCode = "code"
)

// Event is a typed list of attributes, as CometBFT indexes them.
type Event struct {
	Type  string
	Attrs []Attr
}

// Attr is one attribute of an event; Index asks CometBFT to index it.
type Attr struct {
	Key, Value string
	Index      bool
}

// TxOutcome is the result of one transaction of a block.
type TxOutcome struct {
	Code   uint32
	Log    string
	Events []Event
}

// Block is one block to execute.
type Block struct {
	Height int64
	Time   int64 // block time, unix nanoseconds
	Txs    [][]byte
}

// Executed is what a block did: each transaction's outcome, the block's events, the writes
// to persist, the state hash after them and its app hash, and what the node's hooks act on
// after commit.
type Executed struct {
	Results []TxOutcome
	Events  []Event
	Writes  []Write
	State   *StateHash
	AppHash []byte
	Commit  CommitInfo
}

// CommitInfo describes a committed block to the node's hooks: the proxy deletes fragments of
// grants that stopped being live, the blob service replicates and erases blobs.
type CommitInfo struct {
	Height  int64
	Time    int64 // block time, unix nanoseconds
	AppHash []byte
	Revoked []protocol.ID // grants revoked in this block, by Revoke, EraseRecord or a RecoverySetup replacing one
	Expired []Expiry      // grants whose not-after this block's time passed
	Put     []protocol.ID // records put in this block (their blobs are to be replicated)
	Erased  []Erasure
}

// Execute runs block b over committed state st, whose state hash is prev (left unchanged).
// chainID and nodes are the chain's (genesis) constants. prechecked reports the transactions whose bytes this
// node already validated and whose signature it verified (see SPEC.md §4, signature cache).
func Execute(st Store, chainID string, nodes Registry, prev *StateHash, b Block, prechecked func(protocol.Hash32) bool) (*Executed, error) {
	bc := BlockContext{ChainID: chainID, Height: b.Height, Time: b.Time, Nodes: nodes}
	o := newOverlay(st)
	expired, err := expireDue(o, bc)
	if err != nil {
		return nil, fmt.Errorf("ledger: expiring grants at height %d: %w", b.Height, err)
	}
	x := &Executed{Results: make([]TxOutcome, len(b.Txs))}
	for _, e := range expired {
		x.Events = append(x.Events, Event{Type: EventExpire, Attrs: []Attr{
			{Key: AttrGrant, Value: e.Grant.String(), Index: true},
			{Key: AttrRecord, Value: e.Record.String(), Index: true},
		}})
	}
	ci := CommitInfo{Height: b.Height, Time: b.Time, Expired: expired}
	for i, raw := range b.Txs {
		hash := protocol.TxHash(raw)
		res, err := applyTx(o, bc, raw, prechecked != nil && prechecked(hash))
		x.Results[i] = outcome(hash, res, err)
		if err != nil {
			continue
		}
		switch res.typ {
		case protocol.TxRevoke:
			ci.Revoked = append(ci.Revoked, res.grant)
		case protocol.TxPutRecord, protocol.TxIssue:
			ci.Put = append(ci.Put, res.record)
		case protocol.TxEraseRecord:
			ci.Revoked = append(ci.Revoked, res.revoked...)
			ci.Erased = append(ci.Erased, Erasure{Record: res.record, CID: res.cid})
		case protocol.TxRecoverySetup:
			ci.Revoked = append(ci.Revoked, res.revoked...)
		case protocol.TxStreamAppend:
			ci.Put = append(ci.Put, res.record)
		case protocol.TxStreamErase:
			ci.Revoked = append(ci.Revoked, res.revoked...)
			ci.Erased = append(ci.Erased, res.erased...)
		}
	}
	x.Writes = o.sorted()
	next := *prev
	if err := next.apply(st, x.Writes); err != nil {
		return nil, fmt.Errorf("ledger: state hash at height %d: %w", b.Height, err)
	}
	x.State, x.AppHash = &next, next.AppHash()
	ci.AppHash = x.AppHash
	x.Commit = ci
	return x, nil
}

func outcome(hash protocol.Hash32, res *applied, err error) TxOutcome {
	code := protocol.LedgerCode(err)
	attrs := []Attr{
		{Key: AttrTxHash, Value: strings.ToUpper(hash.String()), Index: true},
		{Key: AttrResultCode, Value: fmt.Sprint(code)},
	}
	out := TxOutcome{Code: code}
	if err != nil {
		out.Log = err.Error()
	} else {
		attrs = append(attrs,
			Attr{Key: AttrType, Value: res.typ.String(), Index: true},
			Attr{Key: AttrSigner, Value: res.signer.String(), Index: true})
		if res.record != (protocol.ID{}) {
			attrs = append(attrs, Attr{Key: AttrRecord, Value: res.record.String(), Index: true})
		}
		switch res.typ {
		case protocol.TxGrant, protocol.TxRevoke, protocol.TxRequestAccess, protocol.TxFragmentDestroyed, protocol.TxRecoverySetup,
			protocol.TxRecoveryStart, protocol.TxRecoveryApprove, protocol.TxRecoveryCancel, protocol.TxRecoveryFinish,
			protocol.TxEmergencyRequest, protocol.TxStreamGrant:
			attrs = append(attrs, Attr{Key: AttrGrant, Value: res.grant.String(), Index: true})
		}
	}
	out.Events = []Event{{Type: EventTx, Attrs: attrs}}
	return out
}

// Mempool is a node's view for CheckTx: committed state plus the writes of the transactions
// already admitted to its mempool, so one account can have several transactions in flight.
// It is not safe for concurrent use; the node holds a lock around it.
type Mempool struct{ o *overlay }

// NewMempool starts a view over committed state st.
func NewMempool(st Store) *Mempool { return &Mempool{o: newOverlay(st)} }

// InFlight is how many of signer's transactions the view holds beyond committed state.
func (m *Mempool) InFlight(signer protocol.PubKey) (uint64, error) {
	ahead, err := nextSequence(m.o, signer)
	if err != nil {
		return 0, err
	}
	committed, err := nextSequence(m.o.parent, signer)
	return ahead - min(ahead, committed), err
}

// Tier is signer's tier as the view sees it (0: not admitted).
func (m *Mempool) Tier(signer protocol.PubKey) (uint8, error) {
	a, err := account(m.o, signer)
	if a == nil || err != nil {
		return 0, err
	}
	return a.Tier, nil
}

// Check applies raw to the view under the rules of the next block (height, time = last block
// time) and keeps its writes on success.
func (m *Mempool) Check(bc BlockContext, raw []byte, prechecked bool) error {
	scratch := newOverlay(m.o)
	if _, err := applyTx(scratch, bc, raw, prechecked); err != nil {
		return err
	}
	scratch.mergeInto(m.o)
	return nil
}
