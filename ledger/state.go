package ledger

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// State is a key-value map. Values are the canonical encodings of the protocol's state types
// (protocol/SPEC.md §5) or fixed-width integers; SPEC.md §6 lists the keys.

// Key layout; see SPEC.md. Prefix bytes keep each table contiguous.
const (
	pMeta        = 0x00 // node-local bookkeeping of the ABCI application, outside the app hash
	pNode        = 'n'  // u16 index -> protocol.Node
	pNodeProxy   = 'N'  // proxy key -> u16 index
	pAccount     = 'a'  // signer -> u64 next sequence
	pRecord      = 'r'  // record id -> protocol.Record
	pRecordOwner = 'O'  // record id -> owner key (what grants check)
	pGrant       = 'g'  // grant id -> protocol.GrantState
	pExpiry      = 'x'  // u64 not-after ‖ grant id -> empty
	pList        = 'l'  // list id ‖ u64 position -> item
	pListLen     = 'c'  // list id -> u64 length
	pTombstone   = 'E'  // record id -> protocol.Tombstone
	pHolder      = 'H'  // record id ‖ u16 node index -> empty
	pCIDIndex    = 'C'  // u16 len ‖ cid text ‖ record id -> empty
	pReplication = 'p'  // 'r' -> u16 replication factor (absent: every node)
	pDestroyed   = 'D'  // grant id ‖ u16 node index -> empty
	pRequest     = 'q'  // RequestAccess tx hash -> record id ‖ u64 audit position
	pOwed        = 'W'  // u16 node index ‖ grant id -> empty: the node owes a FragmentDestroyed
	pAdmitted    = 'A'  // account key -> protocol.Account (admission and usage)
	pRules       = 'P'  // 'a' -> protocol.AdmissionRules
	// Recovery by guardians (recovery.go).
	pRecoverySetup   = 'Y' // owner key -> protocol.RecoverySetupState
	pRecoveryGrant   = 'y' // grant id -> owner key: the grant is a recovery grant
	pRecoveryProcess = 'U' // process id (its RecoveryStart's tx hash) -> protocol.RecoveryProcess
	// Caregivers (delegation.go).
	pDelegation = 'd' // delegation id -> protocol.DelegationState
	pDelegate   = 'e' // owner key ‖ caregiver key -> the id of the owner's latest delegation to it
	// Break-glass (emergency.go).
	pService    = 'S' // service name -> protocol.ServiceState
	pServiceOrg = 's' // organisation signing key -> service name
	pClinician  = 'k' // clinician signing key -> service name
	// Issued records (issued.go).
	pInbox     = 'j' // subject key -> protocol.InboxState
	pInboxSlot = 'i' // subject key ‖ u32 slot -> slot public key: open and unused
	pIssued    = 'I' // record id -> protocol.IssuedState
	pPending   = 'J' // subject key ‖ record id -> empty: issued, not yet accepted nor erased

	pRetired   = 'R' // retired key -> protocol.Retirement
	pSucceeded = 'V' // successor key -> the key it succeeded
)

// Lists (ordered, append-only, paged by position).
const (
	listOwnerRecords   = 'o' // owner key -> record ids
	listRecordGrants   = 'G' // record id -> grant ids
	listRecipientGrant = 'R' // recipient signing key -> grant ids
	listAudit          = 'L' // record id -> protocol.AuditEntry
	listOwnerProcesses = 'V' // owner key -> recovery process ids, in the order started
	listOwnerDelegates = 'd' // owner key -> delegation ids, in the order made
	listCaregiverOf    = 'e' // caregiver signing key -> delegation ids, in the order made
)

var keyReplication = []byte{pReplication, 'r'}

func key(prefix byte, parts ...[]byte) []byte {
	k := []byte{prefix}
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func u64b(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func u16b(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func listID(kind byte, owner []byte) []byte { return append([]byte{kind}, owner...) }

// Store is read access to a key-value state. Get returns (nil, nil) for an absent key.
// Iterate visits keys with the prefix, from start (inclusive, a full key) in ascending
// order, until fn returns false. The node implements it over its database; tests over a map.
type Store interface {
	Get(key []byte) ([]byte, error)
	Iterate(prefix, start []byte, fn func(k, v []byte) bool) error
}

// Write is one change to the state: Value nil deletes Key.
type Write struct{ Key, Value []byte }

// overlay buffers writes over a parent store; nil value means deletion. The state machine
// only ever writes into an overlay, so executing a block touches no disk.
type overlay struct {
	parent Store
	writes map[string][]byte
}

func newOverlay(parent Store) *overlay {
	return &overlay{parent: parent, writes: make(map[string][]byte)}
}

func (o *overlay) Get(k []byte) ([]byte, error) {
	if v, ok := o.writes[string(k)]; ok {
		return v, nil
	}
	return o.parent.Get(k)
}

// Iterate reads the parent only: the state machine iterates committed state at the start of
// a block, before any write.
func (o *overlay) Iterate(prefix, start []byte, fn func(k, v []byte) bool) error {
	return o.parent.Iterate(prefix, start, fn)
}

// keysWithPrefix lists the keys with prefix that exist in this overlay: the committed ones,
// as every overlay below changed them, and this overlay's own. For small key ranges (the
// records naming one CID); it reads them all.
func (o *overlay) keysWithPrefix(prefix []byte) ([]string, error) {
	present := map[string]bool{}
	if p, ok := o.parent.(*overlay); ok {
		ks, err := p.keysWithPrefix(prefix)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			present[k] = true
		}
	} else if err := o.parent.Iterate(prefix, prefix, func(k, _ []byte) bool {
		present[string(k)] = true
		return true
	}); err != nil {
		return nil, err
	}
	for k, v := range o.writes {
		if strings.HasPrefix(k, string(prefix)) {
			present[k] = v != nil
		}
	}
	var out []string
	for k, ok := range present {
		if ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (o *overlay) set(k, v []byte) {
	if v == nil {
		v = []byte{}
	}
	o.writes[string(k)] = v
}

func (o *overlay) del(k []byte) { o.writes[string(k)] = nil }

// mergeInto moves the writes into the parent overlay.
func (o *overlay) mergeInto(p *overlay) {
	for k, v := range o.writes {
		p.writes[k] = v
	}
}

// sorted returns the writes in key order: the order the app hash covers them in.
func (o *overlay) sorted() []Write {
	ws := make([]Write, 0, len(o.writes))
	for k, v := range o.writes {
		ws = append(ws, Write{Key: []byte(k), Value: v})
	}
	sort.Slice(ws, func(i, j int) bool { return bytes.Compare(ws[i].Key, ws[j].Key) < 0 })
	return ws
}

type binaryValue interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

func getValue(s Store, k []byte, v binaryValue) (bool, error) {
	b, err := s.Get(k)
	if err != nil || b == nil {
		return false, err
	}
	if err := v.UnmarshalBinary(b); err != nil {
		return false, fmt.Errorf("ledger: corrupt state at %x: %w", k, err)
	}
	return true, nil
}

// setValue stores v; the values it is given were bounded by the transaction's validation,
// so a failure is a bug.
func setValue(o *overlay, k []byte, v encoding.BinaryMarshaler) {
	b, err := v.MarshalBinary()
	if err != nil {
		panic(fmt.Sprintf("ledger: encoding state at %x: %v", k, err))
	}
	o.set(k, b)
}

func getU64(s Store, k []byte) (uint64, error) {
	b, err := s.Get(k)
	if err != nil || b == nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("ledger: corrupt counter at %x", k)
	}
	return binary.BigEndian.Uint64(b), nil
}

func listAppend(o *overlay, id []byte, item []byte) error {
	n, err := getU64(o, key(pListLen, id))
	if err != nil {
		return err
	}
	o.set(key(pList, id, u64b(n)), item)
	o.set(key(pListLen, id), u64b(n+1))
	return nil
}

// listPage returns up to limit items of list id from position start, and the position after
// the last one returned (or -1 at the end).
func listPage(s Store, id []byte, start uint64, limit int) ([][]byte, int64, error) {
	total, err := getU64(s, key(pListLen, id))
	if err != nil {
		return nil, -1, err
	}
	var items [][]byte
	prefix := key(pList, id)
	err = s.Iterate(prefix, key(pList, id, u64b(start)), func(k, v []byte) bool {
		items = append(items, append([]byte(nil), v...))
		return len(items) < limit
	})
	next := int64(start) + int64(len(items))
	if uint64(next) >= total {
		next = -1
	}
	return items, next, err
}

// MemStore is an in-memory Store, for running the state machine without a disk.
type MemStore struct{ m map[string][]byte }

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{m: make(map[string][]byte)} }

func (s *MemStore) Get(k []byte) ([]byte, error) { return s.m[string(k)], nil }

func (s *MemStore) Iterate(prefix, start []byte, fn func(k, v []byte) bool) error {
	keys := make([]string, 0)
	for k := range s.m {
		if bytes.HasPrefix([]byte(k), prefix) && k >= string(start) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !fn([]byte(k), s.m[k]) {
			break
		}
	}
	return nil
}

// Apply makes the writes.
func (s *MemStore) Apply(ws []Write) {
	for _, w := range ws {
		if w.Value == nil {
			delete(s.m, string(w.Key))
		} else {
			s.m[string(w.Key)] = w.Value
		}
	}
}

// Clone returns a copy of the store.
func (s *MemStore) Clone() *MemStore {
	c := &MemStore{m: make(map[string][]byte, len(s.m))}
	for k, v := range s.m {
		c.m[k] = v
	}
	return c
}
