package ledger

import (
	"context"
	"encoding/hex"
	"encoding/json"

	"fmt"
	"net/url"
	"strconv"
	"strings"

	abci "github.com/cometbft/cometbft/abci/types"
)

// Snapshot is a consistent read-only view of committed state. Release it
// when done.
type Snapshot struct {
	st      Store
	release func()
	Height  int64
	Time    int64 // block time of Height, unix nanoseconds
	AppHash []byte
	ChainID string
}

// Committed returns a snapshot of the last committed state.
func (a *App) Committed() (*Snapshot, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	s, err := a.db.GetSnapshot()
	if err != nil {
		return nil, fmt.Errorf("ledger: snapshot: %w", err)
	}
	return &Snapshot{st: snapStore(s), release: s.Release, Height: a.height, Time: a.blockTime,
		AppHash: append([]byte(nil), a.appHash...), ChainID: a.chainID}, nil
}

// Release frees the snapshot.
func (s *Snapshot) Release() {
	if s.release != nil {
		s.release()
		s.release = nil
	}
}

// Record returns a record by id (ErrNotFound if absent).
func (s *Snapshot) Record(id ID) (*Record, error) {
	var r Record
	if ok, err := getJSON(s.st, key(pRecord, id[:]), &r); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: record %s", ErrNotFound, id)
	}
	return &r, s.annotate(&r)
}

// annotate fills the query-only fields of a record: holders, replicas and
// the tombstone.
func (s *Snapshot) annotate(r *Record) error {
	var err error
	if r.Erased, err = s.Tombstone(r.ID); err != nil || r.Erased != nil {
		return err
	}
	if r.Holders, err = s.Holders(r.ID); err != nil {
		return err
	}
	placed, err := s.PlacedNodes(r.ID)
	r.Replicas = len(placed)
	return err
}

// Grant returns a grant by id (ErrNotFound if absent).
func (s *Snapshot) Grant(id ID) (*GrantState, error) { return loadGrant(s.st, id) }

// LiveGrant returns the grant if it is live at the snapshot's block time.
func (s *Snapshot) LiveGrant(id ID) (*GrantState, error) {
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
func (s *Snapshot) Sequence(pk PubKey) (uint64, error) { return nextSequence(s.st, pk) }

// Nodes returns the node registry.
func (s *Snapshot) Nodes() ([]NodeInfo, error) {
	var out []NodeInfo
	var bad error
	err := s.st.Iterate([]byte{pNode}, []byte{pNode}, func(_, v []byte) bool {
		var n NodeInfo
		if err := json.Unmarshal(v, &n); err != nil {
			bad = err
			return false
		}
		out = append(out, n)
		return true
	})
	if err == nil {
		err = bad
	}
	return out, err
}

// Page is one page of a list query. Next is the start of the following page,
// -1 at the end.
type Page[T any] struct {
	Items []T   `json:"items"`
	Next  int64 `json:"next"`
}

// MaxPage bounds the items of one query answer.
const MaxPage = 100

func idPage[T any](s *Snapshot, list []byte, start uint64, limit int, load func(ID) (T, error)) (*Page[T], error) {
	raw, next, err := listPage(s.st, list, start, clampLimit(limit))
	if err != nil {
		return nil, err
	}
	p := &Page[T]{Items: make([]T, 0, len(raw)), Next: next}
	for _, b := range raw {
		var id ID
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
	if n <= 0 || n > MaxPage {
		return MaxPage
	}
	return n
}

// RecordsOf lists an owner's records in the order they were put.
func (s *Snapshot) RecordsOf(owner PubKey, start uint64, limit int) (*Page[*Record], error) {
	return idPage(s, listID(listOwnerRecords, owner[:]), start, limit, s.Record)
}

// GrantsOf lists a record's grants in the order they were made.
func (s *Snapshot) GrantsOf(record ID, start uint64, limit int) (*Page[*GrantState], error) {
	return idPage(s, listID(listRecordGrants, record[:]), start, limit, s.Grant)
}

// GrantsTo lists the grants made to a recipient (by signing key).
func (s *Snapshot) GrantsTo(recipient PubKey, start uint64, limit int) (*Page[*GrantState], error) {
	return idPage(s, listID(listRecipientGrant, recipient[:]), start, limit, s.Grant)
}

// Audit lists a record's audit log in order.
func (s *Snapshot) Audit(record ID, start uint64, limit int) (*Page[AuditEntry], error) {
	raw, next, err := listPage(s.st, listID(listAudit, record[:]), start, clampLimit(limit))
	if err != nil {
		return nil, err
	}
	p := &Page[AuditEntry]{Items: make([]AuditEntry, 0, len(raw)), Next: next}
	for _, b := range raw {
		var e AuditEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("ledger: corrupt audit entry: %w", err)
		}
		p.Items = append(p.Items, e)
	}
	return p, nil
}

// Status is the answer of the /status query.
type Status struct {
	ChainID string `json:"chain_id"`
	Height  int64  `json:"height"`
	Time    int64  `json:"time"`
	AppHash string `json:"app_hash"`
}

// Query answers read-only questions about committed state. Paths:
//
//	/status
//	/nodes
//	/account/<signer hex>
//	/record/<id hex>
//	/grant/<id hex>
//	/records/owner/<owner hex>?start=N&limit=M
//	/grants/record/<record id hex>?start=N&limit=M
//	/grants/recipient/<recipient signing key hex>?start=N&limit=M
//	/audit/<record id hex>?start=N&limit=M
//	/tombstone/<record id hex>
//	/records/cid/<cid text>
//	/placement/<record id hex>
//
// Answers are JSON in Value; Height is the committed height they reflect.
func (a *App) Query(_ context.Context, req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	s, err := a.Committed()
	if err != nil {
		return nil, err
	}
	defer s.Release()
	v, err := s.Query(req.Path)
	if err != nil {
		return &abci.ResponseQuery{Code: Code(err), Log: err.Error(), Height: s.Height}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &abci.ResponseQuery{Code: CodeOK, Value: b, Height: s.Height}, nil
}

// MaxQueryPath bounds the query path a client may send.
const MaxQueryPath = 512

// Query resolves a query path (see App.Query) against the snapshot.
func (s *Snapshot) Query(path string) (any, error) {
	if len(path) > MaxQueryPath {
		return nil, fmt.Errorf("%w: query path too long", ErrMalformed)
	}
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("%w: query path: %v", ErrMalformed, err)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	start, limit, err := paging(u.Query())
	if err != nil {
		return nil, err
	}
	switch {
	case len(parts) == 1 && parts[0] == "status":
		return Status{ChainID: s.ChainID, Height: s.Height, Time: s.Time, AppHash: strings.ToUpper(hex.EncodeToString(s.AppHash))}, nil
	case len(parts) == 1 && parts[0] == "nodes":
		return s.Nodes()
	case len(parts) == 2 && parts[0] == "account":
		pk, err := parsePubKeyHex(parts[1])
		if err != nil {
			return nil, err
		}
		seq, err := s.Sequence(pk)
		return map[string]uint64{"sequence": seq}, err
	case len(parts) == 2 && parts[0] == "record":
		id, err := parseIDHex(parts[1])
		if err != nil {
			return nil, err
		}
		return s.Record(id)
	case len(parts) == 2 && parts[0] == "grant":
		id, err := parseIDHex(parts[1])
		if err != nil {
			return nil, err
		}
		return s.Grant(id)
	case len(parts) == 3 && parts[0] == "records" && parts[1] == "owner":
		pk, err := parsePubKeyHex(parts[2])
		if err != nil {
			return nil, err
		}
		return s.RecordsOf(pk, start, limit)
	case len(parts) == 3 && parts[0] == "grants" && parts[1] == "record":
		id, err := parseIDHex(parts[2])
		if err != nil {
			return nil, err
		}
		return s.GrantsOf(id, start, limit)
	case len(parts) == 3 && parts[0] == "grants" && parts[1] == "recipient":
		pk, err := parsePubKeyHex(parts[2])
		if err != nil {
			return nil, err
		}
		return s.GrantsTo(pk, start, limit)
	case len(parts) == 2 && parts[0] == "tombstone":
		id, err := parseIDHex(parts[1])
		if err != nil {
			return nil, err
		}
		t, err := s.Tombstone(id)
		if err == nil && t == nil {
			err = fmt.Errorf("%w: no tombstone for record %s", ErrNotFound, id)
		}
		return t, err
	case len(parts) == 3 && parts[0] == "records" && parts[1] == "cid":
		if parts[2] == "" || len(parts[2]) > MaxCIDBytes {
			return nil, fmt.Errorf("%w: cid must be 1..%d bytes", ErrMalformed, MaxCIDBytes)
		}
		ids, err := s.RecordsWithCID([]byte(parts[2]))
		if err != nil {
			return nil, err
		}
		recs := make([]*Record, 0, len(ids))
		for _, id := range ids {
			r, err := s.Record(id)
			if err != nil {
				return nil, err
			}
			recs = append(recs, r)
		}
		return recs, nil
	case len(parts) == 2 && parts[0] == "placement":
		id, err := parseIDHex(parts[1])
		if err != nil {
			return nil, err
		}
		return s.PlacedNodes(id)
	case len(parts) == 2 && parts[0] == "audit":
		id, err := parseIDHex(parts[1])
		if err != nil {
			return nil, err
		}
		return s.Audit(id, start, limit)
	}
	return nil, fmt.Errorf("%w: unknown query path %q", ErrNotFound, u.Path)
}

func paging(q url.Values) (uint64, int, error) {
	var start uint64
	limit := MaxPage
	var err error
	if v := q.Get("start"); v != "" {
		if start, err = strconv.ParseUint(v, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("%w: start must be a non-negative integer", ErrMalformed)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			return 0, 0, fmt.Errorf("%w: limit must be a positive integer", ErrMalformed)
		}
	}
	return start, clampLimit(limit), nil
}

func parseIDHex(s string) (ID, error) {
	var id ID
	err := id.UnmarshalText([]byte(s))
	return id, err
}

func parsePubKeyHex(s string) (PubKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return PubKey{}, fmt.Errorf("%w: public key is not hex", ErrMalformed)
	}
	return ParsePubKey(b)
}
