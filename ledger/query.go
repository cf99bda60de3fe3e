package ledger

import (
	"encoding/binary"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// Snapshot is a consistent read-only view of committed state. Release it when done.
type Snapshot struct {
	st      Store
	release func()
	Height  int64
	Time    int64 // block time of Height, unix nanoseconds
	AppHash []byte
	ChainID string
}

// NewSnapshot wraps a consistent view st of the state committed at height (block time t,
// app hash appHash); release, if not nil, frees it.
func NewSnapshot(st Store, release func(), chainID string, height, t int64, appHash []byte) *Snapshot {
	return &Snapshot{st: st, release: release, ChainID: chainID, Height: height, Time: t, AppHash: appHash}
}

// Release frees the snapshot.
func (s *Snapshot) Release() {
	if s.release != nil {
		s.release()
		s.release = nil
	}
}

// Record returns a record by id (not_found if absent), with its query-only fields.
func (s *Snapshot) Record(id protocol.ID) (*protocol.Record, error) {
	var r protocol.Record
	if ok, err := getValue(s.st, key(pRecord, id[:]), &r); err != nil {
		return nil, err
	} else if !ok {
		return nil, protocol.Errorf(protocol.ErrNotFound, "record %s", id)
	}
	return &r, s.annotate(&r)
}

// annotate fills the query-only fields of a record: holders, replicas and the tombstone.
func (s *Snapshot) annotate(r *protocol.Record) error {
	var err error
	if r.Issued, err = loadIssued(s.st, r.ID); err != nil {
		return err
	}
	if r.Erased, err = s.Tombstone(r.ID); err != nil || r.Erased != nil {
		return err
	}
	if r.Holders, err = s.Holders(r.ID); err != nil {
		return err
	}
	placed, err := placedNodes(s.st, r.ID)
	r.Replicas = len(placed)
	return err
}

// Grant returns a grant by id (not_found if absent), with the nodes that reported destroying
// their fragment.
func (s *Snapshot) Grant(id protocol.ID) (*protocol.GrantState, error) {
	g, err := loadGrant(s.st, id)
	if err != nil {
		return nil, err
	}
	g.Destroyed, err = destroyedBy(s.st, id)
	return g, err
}

// LiveGrant returns the grant if it is live at the snapshot's block time.
func (s *Snapshot) LiveGrant(id protocol.ID) (*protocol.GrantState, error) {
	g, err := s.Grant(id)
	if err != nil {
		return nil, err
	}
	if err := g.LiveAt(s.Time); err != nil {
		return nil, err
	}
	return g, nil
}

// Sequence returns the sequence number the account's next tx must carry.
func (s *Snapshot) Sequence(pk protocol.PubKey) (uint64, error) { return nextSequence(s.st, pk) }

// Nodes returns the node registry in index order.
func (s *Snapshot) Nodes() ([]protocol.Node, error) { return registryNodes(s.st) }

// Tombstone returns the tombstone of an erased record, or nil if it was not erased.
func (s *Snapshot) Tombstone(id protocol.ID) (*protocol.Tombstone, error) { return erasedAt(s.st, id) }

// Replication returns the genesis replication factor (0: every node).
func (s *Snapshot) Replication() (int, error) { return replicationFactor(s.st) }

// Holders returns the registry indices of the nodes that reported holding the record's blob,
// ascending.
func (s *Snapshot) Holders(id protocol.ID) ([]int, error) {
	var out []int
	p := key(pHolder, id[:])
	err := s.st.Iterate(p, p, func(k, _ []byte) bool {
		if len(k) == len(p)+2 {
			out = append(out, int(binary.BigEndian.Uint16(k[len(p):])))
		}
		return true
	})
	return out, err
}

// PlacedNodes returns the nodes that should hold the record's blob, in placement order.
func (s *Snapshot) PlacedNodes(id protocol.ID) ([]protocol.Node, error) {
	nodes, err := s.Nodes()
	if err != nil {
		return nil, err
	}
	k, err := s.Replication()
	if err != nil {
		return nil, err
	}
	var out []protocol.Node
	for _, i := range protocol.Placement(id, nodes, k) {
		out = append(out, nodes[i])
	}
	return out, nil
}

// RecordsWithCID returns the ids of the records whose blob has this CID (its text form, as
// PutRecord carries it), at most protocol.MaxPage.
func (s *Snapshot) RecordsWithCID(cid []byte) ([]protocol.ID, error) {
	var out []protocol.ID
	p := key(pCIDIndex, u16b(uint16(len(cid))), cid)
	err := s.st.Iterate(p, p, func(k, _ []byte) bool {
		if len(k) == len(p)+32 {
			var id protocol.ID
			copy(id[:], k[len(p):])
			out = append(out, id)
		}
		return len(out) < protocol.MaxPage
	})
	return out, err
}

// Records visits every record id in key order from after (exclusive; nil starts at the
// beginning), up to limit ids; it is how a node walks what it should store.
func (s *Snapshot) Records(after *protocol.ID, limit int) ([]protocol.ID, error) {
	start := []byte{pRecord}
	if after != nil {
		start = key(pRecord, after[:], []byte{0})
	}
	var out []protocol.ID
	err := s.st.Iterate([]byte{pRecord}, start, func(k, _ []byte) bool {
		if len(k) == 33 {
			var id protocol.ID
			copy(id[:], k[1:])
			out = append(out, id)
		}
		return len(out) < limit
	})
	return out, err
}

func idPage[T any](s *Snapshot, list []byte, start uint64, limit int, load func(protocol.ID) (T, error)) (*protocol.Page[T], error) {
	raw, next, err := listPage(s.st, list, start, clampLimit(limit))
	if err != nil {
		return nil, err
	}
	p := &protocol.Page[T]{Items: make([]T, 0, len(raw)), Next: next}
	for _, b := range raw {
		var id protocol.ID
		copy(id[:], b)
		v, err := load(id)
		if err != nil {
			return nil, err
		}
		p.Items = append(p.Items, v)
	}
	return p, nil
}

func clampLimit(n int) int {
	if n <= 0 || n > protocol.MaxPage {
		return protocol.MaxPage
	}
	return n
}

// RecordsOf lists an owner's records in the order they were put.
func (s *Snapshot) RecordsOf(owner protocol.PubKey, start uint64, limit int) (*protocol.Page[*protocol.Record], error) {
	return idPage(s, listID(listOwnerRecords, owner[:]), start, limit, s.Record)
}

// GrantsOf lists a record's grants in the order they were made.
func (s *Snapshot) GrantsOf(record protocol.ID, start uint64, limit int) (*protocol.Page[*protocol.GrantState], error) {
	return idPage(s, listID(listRecordGrants, record[:]), start, limit, s.Grant)
}

// GrantsTo lists the grants made to a recipient (by signing key).
func (s *Snapshot) GrantsTo(recipient protocol.PubKey, start uint64, limit int) (*protocol.Page[*protocol.GrantState], error) {
	return idPage(s, listID(listRecipientGrant, recipient[:]), start, limit, s.Grant)
}

// Audit lists a record's audit log in order.
func (s *Snapshot) Audit(record protocol.ID, start uint64, limit int) (*protocol.Page[protocol.AuditEntry], error) {
	raw, next, err := listPage(s.st, listID(listAudit, record[:]), start, clampLimit(limit))
	if err != nil {
		return nil, err
	}
	p := &protocol.Page[protocol.AuditEntry]{Items: make([]protocol.AuditEntry, 0, len(raw)), Next: next}
	for _, b := range raw {
		var e protocol.AuditEntry
		if err := e.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		p.Items = append(p.Items, e)
	}
	return p, nil
}

// Request finds a committed RequestAccess by its transaction hash: its record, its position
// in the record's audit log and the entry (not_found if none).
func (s *Snapshot) Request(tx protocol.Hash32) (*protocol.RequestRef, error) {
	v, err := s.st.Get(key(pRequest, tx[:]))
	if err != nil {
		return nil, err
	}
	if len(v) != 32+8 {
		return nil, protocol.Errorf(protocol.ErrNotFound, "no committed access request %s", tx)
	}
	ref := &protocol.RequestRef{Index: binary.BigEndian.Uint64(v[32:])}
	copy(ref.Record[:], v)
	page, err := s.Audit(ref.Record, ref.Index, 1)
	if err != nil {
		return nil, err
	}
	if len(page.Items) != 1 {
		return nil, fmt.Errorf("ledger: request %s indexes a missing audit entry", tx)
	}
	ref.Entry = page.Items[0]
	return ref, nil
}

// AdmissionRules are the network's admission rules; not_found for an open network.
func (s *Snapshot) AdmissionRules() (*protocol.AdmissionRules, error) {
	r, err := rules(s.st)
	if err == nil && r == nil {
		err = protocol.Errorf(protocol.ErrNotFound, "this network is open: every account may transact")
	}
	return r, err
}

// Account is an admitted account with its tier's allowance (not_found if not admitted).
func (s *Snapshot) Account(pk protocol.PubKey) (*protocol.Account, error) {
	a, err := account(s.st, pk)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, protocol.Errorf(protocol.ErrNotFound, "account %s is not admitted", pk)
	}
	r, err := s.AdmissionRules()
	if err != nil {
		return nil, err
	}
	a.TierName, a.Allowance = protocol.TierName(a.Tier), r.Of(a.Tier)
	return a, nil
}

// Query resolves a query path (SPEC.md §9) against the snapshot. Paths:
//
//	/nodes
//	/account/<signer hex>
//	/record/<id hex>
//	/grant/<id hex>
//	/records/owner/<owner hex>?start=N&limit=M
//	/grants/record/<record id hex>?start=N&limit=M
//	/grants/recipient/<recipient signing key hex>?start=N&limit=M
//	/audit/<record id hex>?start=N&limit=M
//	/request/<RequestAccess tx hash hex>
//	/tombstone/<record id hex>
//	/records/cid/<cid text>
//	/placement/<record id hex>
//	/admission
//	/admission/<account hex>
//	/recovery/setup/<owner hex>
//	/recovery/processes/<owner hex>?start=N&limit=M
//	/recovery/process/<RecoveryStart tx hash hex>
//	/delegation/<id hex>
//	/delegations/owner/<owner hex>?start=N&limit=M
//	/delegations/caregiver/<caregiver hex>?start=N&limit=M
//	/service/<name>            (a name with a slash is not reachable here)
//	/services
//	/inbox/<subject hex>
//	/inbox/pending/<subject hex>
//	/retired/<key hex>          (the Rotate that retired the key)
//	/predecessor/<key hex>      (the Rotate whose successor is the key)
//
// The answer is a value of the protocol package, for JSON.
func (s *Snapshot) Query(path string) (any, error) {
	if len(path) > protocol.MaxQueryPath {
		return nil, protocol.Errorf(protocol.ErrTooLarge, "query path longer than %d bytes", protocol.MaxQueryPath)
	}
	u, err := url.Parse(path)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrMalformed, "query path: %v", err)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	start, limit, err := paging(u.Query())
	if err != nil {
		return nil, err
	}
	id := func(i int) (protocol.ID, error) { return protocol.ParseHex[protocol.ID](parts[i]) }
	pk := func(i int) (protocol.PubKey, error) { return parsePubKeyHex(parts[i]) }
	switch {
	case len(parts) == 1 && parts[0] == "nodes":
		return s.Nodes()
	case len(parts) == 2 && parts[0] == "account":
		return with(pk(1))(func(k protocol.PubKey) (any, error) {
			seq, err := s.Sequence(k)
			return map[string]uint64{"sequence": seq}, err
		})
	case len(parts) == 2 && parts[0] == "record":
		return with(id(1))(func(v protocol.ID) (any, error) { return s.Record(v) })
	case len(parts) == 2 && parts[0] == "grant":
		return with(id(1))(func(v protocol.ID) (any, error) { return s.Grant(v) })
	case len(parts) == 3 && parts[0] == "records" && parts[1] == "owner":
		return with(pk(2))(func(k protocol.PubKey) (any, error) { return s.RecordsOf(k, start, limit) })
	case len(parts) == 3 && parts[0] == "grants" && parts[1] == "record":
		return with(id(2))(func(v protocol.ID) (any, error) { return s.GrantsOf(v, start, limit) })
	case len(parts) == 3 && parts[0] == "grants" && parts[1] == "recipient":
		return with(pk(2))(func(k protocol.PubKey) (any, error) { return s.GrantsTo(k, start, limit) })
	case len(parts) == 2 && parts[0] == "audit":
		return with(id(1))(func(v protocol.ID) (any, error) { return s.Audit(v, start, limit) })
	case len(parts) == 2 && parts[0] == "request":
		return with(protocol.ParseHex[protocol.Hash32](parts[1]))(func(h protocol.Hash32) (any, error) { return s.Request(h) })
	case len(parts) == 2 && parts[0] == "tombstone":
		return with(id(1))(func(v protocol.ID) (any, error) {
			t, err := s.Tombstone(v)
			if err == nil && t == nil {
				err = protocol.Errorf(protocol.ErrNotFound, "no tombstone for record %s", v)
			}
			return t, err
		})
	case len(parts) == 3 && parts[0] == "records" && parts[1] == "cid":
		return s.recordsWithCID(parts[2])
	case len(parts) == 1 && parts[0] == "admission":
		return s.AdmissionRules()
	case len(parts) == 2 && parts[0] == "admission":
		return with(pk(1))(func(k protocol.PubKey) (any, error) { return s.Account(k) })
	case len(parts) == 3 && parts[0] == "recovery" && parts[1] == "setup":
		return with(pk(2))(func(k protocol.PubKey) (any, error) { return s.RecoverySetup(k) })
	case len(parts) == 3 && parts[0] == "recovery" && parts[1] == "processes":
		return with(pk(2))(func(k protocol.PubKey) (any, error) { return s.RecoveryProcesses(k, start, limit) })
	case len(parts) == 3 && parts[0] == "recovery" && parts[1] == "process":
		return with(protocol.ParseHex[protocol.Hash32](parts[2]))(func(h protocol.Hash32) (any, error) { return s.RecoveryProcess(h) })
	case len(parts) == 2 && parts[0] == "delegation":
		return with(id(1))(func(v protocol.ID) (any, error) { return s.Delegation(v) })
	case len(parts) == 3 && parts[0] == "delegations" && parts[1] == "owner":
		return with(pk(2))(func(k protocol.PubKey) (any, error) { return s.DelegationsOf(k, start, limit) })
	case len(parts) == 3 && parts[0] == "delegations" && parts[1] == "caregiver":
		return with(pk(2))(func(k protocol.PubKey) (any, error) { return s.DelegationsTo(k, start, limit) })
	case len(parts) == 2 && parts[0] == "service":
		return s.Service(parts[1])
	case len(parts) == 1 && parts[0] == "services":
		return s.Services()
	case len(parts) == 2 && parts[0] == "inbox":
		return with(pk(1))(func(k protocol.PubKey) (any, error) { return s.Inbox(k) })
	case len(parts) == 3 && parts[0] == "inbox" && parts[1] == "pending":
		return with(pk(2))(func(k protocol.PubKey) (any, error) { return s.Pending(k) })
	case len(parts) == 2 && parts[0] == "retired":
		return with(pk(1))(func(k protocol.PubKey) (any, error) {
			t, err := s.Retirement(k)
			return retirementAnswer(t, err, "no retirement of key", k)
		})
	case len(parts) == 2 && parts[0] == "predecessor":
		return with(pk(1))(func(k protocol.PubKey) (any, error) {
			t, err := s.Predecessor(k)
			return retirementAnswer(t, err, "no key succeeded by", k)
		})
	case len(parts) == 2 && parts[0] == "placement":
		return with(id(1))(func(v protocol.ID) (any, error) { return s.PlacedNodes(v) })
	}
	if v, ok, err := s.streamQuery(parts, start, limit); ok {
		return v, err
	}
	return nil, protocol.Errorf(protocol.ErrUnknownQuery, "%q", u.Path)
}

// with runs fn on a parsed path element, or returns the parse error.
func with[T any](v T, err error) func(func(T) (any, error)) (any, error) {
	return func(fn func(T) (any, error)) (any, error) {
		if err != nil {
			return nil, err
		}
		return fn(v)
	}
}

func (s *Snapshot) recordsWithCID(text string) ([]*protocol.Record, error) {
	if text == "" || len(text) > protocol.MaxCIDBytes {
		return nil, protocol.Errorf(protocol.ErrMalformed, "cid must be 1..%d bytes", protocol.MaxCIDBytes)
	}
	ids, err := s.RecordsWithCID([]byte(text))
	if err != nil {
		return nil, err
	}
	recs := make([]*protocol.Record, 0, len(ids))
	for _, id := range ids {
		r, err := s.Record(id)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func paging(q url.Values) (uint64, int, error) {
	var start uint64
	limit := protocol.MaxPage
	var err error
	if v := q.Get("start"); v != "" {
		if start, err = strconv.ParseUint(v, 10, 64); err != nil {
			return 0, 0, protocol.Errorf(protocol.ErrMalformed, "start must be a non-negative integer")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			return 0, 0, protocol.Errorf(protocol.ErrMalformed, "limit must be a positive integer")
		}
	}
	return start, clampLimit(limit), nil
}

func parsePubKeyHex(s string) (protocol.PubKey, error) {
	k, err := protocol.ParseHex[protocol.PubKey](s)
	if err != nil {
		return k, err
	}
	if !k.Valid() {
		return k, protocol.Errorf(protocol.ErrMalformed, "public key is not a valid point")
	}
	return k, nil
}
