package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
)

// State values are stored as JSON of the structs below. encoding/json emits
// struct fields in declaration order and the byte arrays as hex text, so a
// value has one encoding and the app hash, which hashes these bytes, is
// deterministic. Queries return the same JSON.

func (k PubKey) MarshalText() ([]byte, error) { return hexText(k[:]), nil }
func (k *PubKey) UnmarshalText(b []byte) error {
	return unhexFixed(k[:], b, "public key")
}
func (id ID) MarshalText() ([]byte, error)  { return hexText(id[:]), nil }
func (id *ID) UnmarshalText(b []byte) error { return unhexFixed(id[:], b, "id") }
func (id ID) String() string                { return hex.EncodeToString(id[:]) }

// Hash32 is a 32-byte digest (kfrag commitment, tx hash).
type Hash32 [32]byte

func (h Hash32) MarshalText() ([]byte, error) { return hexText(h[:]), nil }
func (h *Hash32) UnmarshalText(b []byte) error {
	return unhexFixed(h[:], b, "hash")
}

// CapsuleBytes is an encoded Umbral capsule.
type CapsuleBytes [CapsuleSize]byte

func (c CapsuleBytes) MarshalText() ([]byte, error) { return hexText(c[:]), nil }
func (c *CapsuleBytes) UnmarshalText(b []byte) error {
	return unhexFixed(c[:], b, "capsule")
}

func hexText(b []byte) []byte { return []byte(hex.EncodeToString(b)) }

func unhexFixed(dst, src []byte, what string) error {
	if hex.DecodedLen(len(src)) != len(dst) {
		return fmt.Errorf("%w: %s must be %d hex bytes", ErrMalformed, what, len(dst))
	}
	if _, err := hex.Decode(dst, src); err != nil {
		return fmt.Errorf("%w: %s is not hex", ErrMalformed, what)
	}
	return nil
}

// NodeInfo is one entry of the node registry, fixed at genesis.
type NodeInfo struct {
	Index        int    `json:"index"`
	Name         string `json:"name"`
	ValidatorKey string `json:"validator_pub_key"` // ed25519 consensus key, hex
	ProxyKey     PubKey `json:"proxy_pub_key"`     // secp256k1 re-encryption key
	APIAddr      string `json:"api_addr"`
}

// Record is a committed PutRecord.
type Record struct {
	ID            ID           `json:"id"`
	Owner         PubKey       `json:"owner"`
	CID           []byte       `json:"cid"`
	Size          uint64       `json:"size"`
	Capsule       CapsuleBytes `json:"capsule"`
	DelegatingKey PubKey       `json:"delegating_key"`
	Height        int64        `json:"height"`
	Time          int64        `json:"time"` // block time, unix nanoseconds
	TxHash        Hash32       `json:"tx_hash"`

	// Filled in by queries from other keys, never stored (empty, they are
	// omitted, so stored records keep their encoding).
	Holders  []int      `json:"holders,omitempty"`  // registry indices of nodes that reported holding the blob
	Replicas int        `json:"replicas,omitempty"` // how many nodes should hold it
	Erased   *Tombstone `json:"erased,omitempty"`
}

// GrantNodeState is a grant's node with its kfrag commitment.
type GrantNodeState struct {
	Proxy      PubKey `json:"proxy"`
	Commitment Hash32 `json:"commitment"`
}

// GrantState is a committed grant and what has happened to it since.
type GrantState struct {
	ID            ID               `json:"id"`
	Record        ID               `json:"record"`
	Owner         PubKey           `json:"owner"`
	RecipientSig  PubKey           `json:"recipient_sig"`
	RecipientEnc  PubKey           `json:"recipient_enc"`
	Threshold     int              `json:"threshold"`
	Nodes         []GrantNodeState `json:"nodes"`
	NotBefore     int64            `json:"not_before"`
	NotAfter      int64            `json:"not_after"`
	Purpose       string           `json:"purpose"`
	Height        int64            `json:"height"`
	Time          int64            `json:"time"`
	TxHash        Hash32           `json:"tx_hash"`
	Revoked       bool             `json:"revoked"`
	RevokedHeight int64            `json:"revoked_height,omitempty"`
	Expired       bool             `json:"expired"`
	ExpiredHeight int64            `json:"expired_height,omitempty"`
}

// LiveAt reports whether the grant may be used at block time t (unix ns):
// not revoked, not marked expired, and NotBefore ≤ t < NotAfter.
func (g *GrantState) LiveAt(t int64) error {
	switch {
	case g.Revoked:
		return ErrGrantRevoked
	case g.Expired || (g.NotAfter != 0 && t >= g.NotAfter):
		return ErrGrantExpired
	case t < g.NotBefore:
		return ErrNotYetValid
	}
	return nil
}

// Audit entry kinds.
const (
	AuditPut     = "put"
	AuditGrant   = "grant"
	AuditRequest = "request"
	AuditRevoke  = "revoke"
	AuditExpire  = "expire"
)

// AuditEntry is one line of a record's audit log.
type AuditEntry struct {
	Kind    string  `json:"kind"`
	Record  ID      `json:"record"`
	Grant   *ID     `json:"grant,omitempty"`
	Actor   *PubKey `json:"actor,omitempty"` // absent for expiries
	Purpose string  `json:"purpose,omitempty"`
	Height  int64   `json:"height"`
	Time    int64   `json:"time"`
	TxHash  *Hash32 `json:"tx_hash,omitempty"`
}

// Key layout; see SPEC.md. Prefix bytes keep each table contiguous.
const (
	pMeta        = 0x00 // node-local bookkeeping, outside the app hash
	pNode        = 'n'  // u16 index -> NodeInfo
	pNodeProxy   = 'N'  // proxy key -> u16 index
	pAccount     = 'a'  // signer -> u64 next sequence
	pRecord      = 'r'  // record id -> Record
	pRecordOwner = 'O'  // record id -> owner key (what grants check)
	pGrant       = 'g'  // grant id -> GrantState
	pExpiry      = 'x'  // u64 not-after ‖ grant id -> empty
	pList        = 'l'  // list id ‖ u64 position -> item
	pListLen     = 'c'  // list id -> u64 length
)

// Lists (ordered, append-only, paged by position).
const (
	listOwnerRecords   = 'o' // owner key -> record ids
	listRecordGrants   = 'G' // record id -> grant ids
	listRecipientGrant = 'R' // recipient signing key -> grant ids
	listAudit          = 'L' // record id -> AuditEntry
)

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

// Store is read access to a key-value state. Get returns (nil, nil) for an
// absent key. Iterate visits keys with the prefix, from start (inclusive,
// a full key) in ascending order, until fn returns false.
type Store interface {
	Get(key []byte) ([]byte, error)
	Iterate(prefix, start []byte, fn func(k, v []byte) bool) error
}

// overlay buffers writes over a parent store; nil value means deletion.
// The state machine only ever writes into an overlay, so executing a block
// touches no disk until Commit.
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

// Iterate reads the parent only: the state machine iterates committed state
// at the start of a block, before any write.
func (o *overlay) Iterate(prefix, start []byte, fn func(k, v []byte) bool) error {
	return o.parent.Iterate(prefix, start, fn)
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

// sortedWrites returns the writes in key order: the order the app hash
// covers them in.
func (o *overlay) sortedWrites() []write {
	ws := make([]write, 0, len(o.writes))
	for k, v := range o.writes {
		ws = append(ws, write{key: []byte(k), value: v})
	}
	sort.Slice(ws, func(i, j int) bool { return bytes.Compare(ws[i].key, ws[j].key) < 0 })
	return ws
}

type write struct{ key, value []byte } // value nil = delete

func getJSON(s Store, k []byte, v any) (bool, error) {
	b, err := s.Get(k)
	if err != nil || b == nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("ledger: corrupt state at %x: %w", k, err)
	}
	return true, nil
}

func setJSON(o *overlay, k []byte, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("ledger: encoding state: %v", err)) // only fixed-shape structs are stored
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

// listPage returns up to limit items of list id from position start, and
// the position after the last one returned (or -1 at the end).
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

func (h Hash32) hex() string { return hex.EncodeToString(h[:]) }
