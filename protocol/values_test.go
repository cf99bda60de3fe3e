package protocol_test

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// The state values' canonical binary encodings (what the ledger stores and the app hash
// covers): every value round-trips, the decoders refuse every other encoding, and whatever
// decodes re-encodes to the same bytes.

type stateValue interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v + byte(i)
	}
}

func sampleRecord() *protocol.Record {
	r := &protocol.Record{CID: []byte("bafkreisample"), Size: 1 << 40, Height: 7, Time: 1_767_225_600_000_000_000}
	fill(r.ID[:], 1)
	fill(r.Owner[:], 2)
	fill(r.Capsule[:], 3)
	fill(r.DelegatingKey[:], 4)
	fill(r.TxHash[:], 5)
	return r
}

func sampleGrantState(nodes int) *protocol.GrantState {
	g := &protocol.GrantState{Threshold: 2, NotBefore: 10, NotAfter: 20, Purpose: "treatment", Height: 8, Time: 9,
		Revoked: true, RevokedHeight: 11, Expired: true, ExpiredHeight: 12}
	fill(g.ID[:], 6)
	fill(g.Record[:], 7)
	fill(g.Owner[:], 8)
	fill(g.OwnerEnc[:], 13)
	fill(g.RecipientSig[:], 9)
	fill(g.RecipientEnc[:], 10)
	fill(g.TxHash[:], 11)
	for i := 0; i < nodes; i++ {
		var n protocol.GrantNode
		fill(n.Proxy[:], byte(20+i))
		fill(n.Commitment[:], byte(40+i))
		g.Nodes = append(g.Nodes, n)
	}
	return g
}

// sampleAudit is an audit entry with the optional fields chosen by the bits of present
// (1 grant, 2 actor, 4 tx hash, 8 for: a caregiver acted for the owner).
func sampleAudit(kind string, present int) *protocol.AuditEntry {
	e := &protocol.AuditEntry{Kind: kind, Purpose: "consult", Height: -1, Time: 1 << 62}
	fill(e.Record[:], 12)
	if present&1 != 0 {
		e.Grant = new(protocol.ID)
		fill(e.Grant[:], 13)
	}
	if present&2 != 0 {
		e.Actor = new(protocol.PubKey)
		fill(e.Actor[:], 14)
	}
	if present&4 != 0 {
		e.TxHash = new(protocol.Hash32)
		fill(e.TxHash[:], 15)
	}
	if present&8 != 0 {
		e.For = new(protocol.PubKey)
		fill(e.For[:], 19)
	}
	return e
}

func coSigned(kind string, present int) *protocol.AuditEntry {
	e := sampleAudit(kind, present)
	e.CoSigner = new(protocol.PubKey)
	fill(e.CoSigner[:], 21)
	return e
}

func sampleService(clinicians int) *protocol.ServiceState {
	s := &protocol.ServiceState{Name: "City ED", Height: 3, Time: 4}
	fill(s.Org[:], 22)
	fill(s.OrgEnc[:], 23)
	fill(s.By[:], 24)
	fill(s.TxHash[:], 25)
	for i := 0; i < clinicians; i++ {
		c := protocol.Clinician{Name: strings.Repeat("c", 1+i%protocol.MaxPersonName)}
		fill(c.Key[:], byte(30+i))
		s.Clinicians = append(s.Clinicians, c)
	}
	return s
}

func sampleTombstone() *protocol.Tombstone {
	t := &protocol.Tombstone{CID: []byte("bafkreisample"), Height: 13, Time: 14}
	fill(t.Record[:], 16)
	fill(t.TxHash[:], 17)
	return t
}

func sampleNode() *protocol.Node {
	n := &protocol.Node{Name: "node0", API: "http://127.0.0.1:26680", ValidatorKey: bytes.Repeat([]byte{0xed}, 32), Power: 10}
	fill(n.ProxyKey[:], 18)
	return n
}

// stateKinds names the types FuzzStateValues decodes, by its kind argument.
var stateKinds = []struct {
	name string
	new  func() stateValue
}{
	{"record", func() stateValue { return new(protocol.Record) }},
	{"grant", func() stateValue { return new(protocol.GrantState) }},
	{"audit", func() stateValue { return new(protocol.AuditEntry) }},
	{"tombstone", func() stateValue { return new(protocol.Tombstone) }},
	{"node", func() stateValue { return new(protocol.Node) }},
	{"delegation", func() stateValue { return new(protocol.DelegationState) }},
	{"service", func() stateValue { return new(protocol.ServiceState) }},
}

// samples are values of every type, every optional field present and absent, fields at
// their bounds, and zero values; kind indexes stateKinds.
func samples() []struct {
	name string
	kind int
	v    stateValue
} {
	type sample = struct {
		name string
		kind int
		v    stateValue
	}
	out := []sample{
		{"record", 0, sampleRecord()},
		{"record zero", 0, &protocol.Record{}},
		{"record long cid", 0, &protocol.Record{CID: bytes.Repeat([]byte{'c'}, protocol.MaxCIDBytes)}},
		{"grant no nodes", 1, sampleGrantState(0)},
		{"grant 4 nodes", 1, sampleGrantState(4)},
		{"grant max nodes", 1, func() stateValue {
			g := sampleGrantState(protocol.MaxGrantNodes)
			g.Threshold, g.Purpose = protocol.MaxGrantNodes, strings.Repeat("p", protocol.MaxPurpose)
			return g
		}()},
		{"grant live", 1, func() stateValue {
			g := sampleGrantState(1)
			g.Revoked, g.RevokedHeight, g.Expired, g.ExpiredHeight = false, 0, false, 0
			return g
		}()},
		{"grant zero", 1, &protocol.GrantState{}},
		{"grant by a caregiver", 1, func() stateValue {
			g := sampleGrantState(3)
			g.By = new(protocol.PubKey)
			fill(g.By[:], 30)
			return g
		}()},
		{"delegation live", 5, sampleDelegation(false)},
		{"delegation ended", 5, sampleDelegation(true)},
		{"delegation zero", 5, &protocol.DelegationState{}},
		{"service", 6, sampleService(2)},
		{"service max", 6, sampleService(protocol.MaxClinicians)},
		{"service zero", 6, &protocol.ServiceState{Clinicians: []protocol.Clinician{}}},
		{"tombstone", 3, sampleTombstone()},
		{"tombstone zero", 3, &protocol.Tombstone{}},
		{"node", 4, sampleNode()},
		{"node zero", 4, &protocol.Node{}},
		{"node long fields", 4, &protocol.Node{Name: strings.Repeat("n", protocol.MaxNodeName),
			API: strings.Repeat("a", protocol.MaxAPIURL), ValidatorKey: make([]byte, protocol.MaxValidatorKey), Power: -5}},
	}
	for _, kind := range []string{protocol.AuditPut, protocol.AuditGrant, protocol.AuditRequest, protocol.AuditRevoke,
		protocol.AuditExpire, protocol.AuditErase, protocol.AuditHolds, protocol.AuditDestroyed, protocol.AuditRecoverySetup,
		protocol.AuditRecoveryStart, protocol.AuditRecoveryApprove, protocol.AuditRecoveryCancel, protocol.AuditRecoveryFinish} {
		for present := 0; present < 16; present++ {
			out = append(out, sample{fmt.Sprintf("audit %s %03b", kind, present), 2, sampleAudit(kind, present)})
		}
	}
	for present := 0; present < 8; present++ {
		out = append(out, sample{fmt.Sprintf("audit co-signed %03b", present), 2, coSigned(protocol.AuditEmergency, present)})
	}
	return out
}

func mustMarshal(t testing.TB, v stateValue) []byte {
	t.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatalf("%T: %v", v, err)
	}
	return b
}

func TestStateValuesRoundTrip(t *testing.T) {
	for _, s := range samples() {
		b := mustMarshal(t, s.v)
		back := stateKinds[s.kind].new()
		if err := back.UnmarshalBinary(b); err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		if !reflect.DeepEqual(back, s.v) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", s.name, back, s.v)
		}
		if again := mustMarshal(t, back); !bytes.Equal(again, b) {
			t.Errorf("%s: re-encoding differs", s.name)
		}
		want := byte(1)
		switch {
		case s.kind == 1 && strings.Contains(s.name, "caregiver"):
			want = 3
		case s.kind == 1:
			want = 2
		case s.kind == 2 && strings.HasSuffix(s.name, " 1"+s.name[len(s.name)-3:]):
			want = 2 // the entry of a caregiver acting for the owner
		case s.kind == 2 && strings.HasPrefix(s.name, "audit co-signed"):
			want = 3
		}
		if b[0] != want {
			t.Errorf("%s: encoding does not start with version %d", s.name, want)
		}
	}
}

// TestRecordQueryFieldsNotEncoded: holders, replicas and the tombstone are filled in by
// queries and are no part of the stored record.
func TestRecordQueryFieldsNotEncoded(t *testing.T) {
	r := sampleRecord()
	plain := mustMarshal(t, r)
	r.Holders, r.Replicas, r.Erased = []int{0, 2}, 3, sampleTombstone()
	if !bytes.Equal(mustMarshal(t, r), plain) {
		t.Fatal("query-only fields changed the encoding")
	}
	var back protocol.Record
	if err := back.UnmarshalBinary(plain); err != nil || back.Holders != nil || back.Replicas != 0 || back.Erased != nil {
		t.Fatalf("decoded query-only fields: %+v, %v", back, err)
	}
}

// TestGrantQueryFieldsNotEncoded: the nodes that reported destroying their fragment are
// filled in by queries and are no part of the stored grant; JSON shows them, when there are
// any, as "destroyed".
func TestGrantQueryFieldsNotEncoded(t *testing.T) {
	g := sampleGrantState(4)
	plain := mustMarshal(t, g)
	if j, _ := json.Marshal(g); bytes.Contains(j, []byte(`"destroyed"`)) {
		t.Fatalf("a grant without reports has a destroyed field: %s", j)
	}
	g.Destroyed = []int{0, 3}
	if !bytes.Equal(mustMarshal(t, g), plain) {
		t.Fatal("query-only fields changed the encoding")
	}
	if j, _ := json.Marshal(g); !bytes.Contains(j, []byte(`"destroyed":[0,3]`)) {
		t.Fatalf("JSON of a grant with reports: %s", j)
	}
	var back protocol.GrantState
	if err := back.UnmarshalBinary(plain); err != nil || back.Destroyed != nil {
		t.Fatalf("decoded query-only fields: %+v, %v", back, err)
	}
}

// TestRequestRefJSON: the /request answer's shape.
func TestRequestRefJSON(t *testing.T) {
	e := sampleAudit(protocol.AuditRequest, 7)
	ref := protocol.RequestRef{Record: e.Record, Index: 5, Entry: *e}
	b, err := json.Marshal(ref)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || len(m) != 3 || string(m["index"]) != "5" ||
		string(m["record"]) != `"`+e.Record.String()+`"` || !bytes.Contains(m["entry"], []byte(`"kind":"request"`)) {
		t.Fatalf("request ref JSON %s, %v", b, err)
	}
	var back protocol.RequestRef
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, ref) {
		t.Fatalf("round trip %+v, %v", back, err)
	}
}

// TestStateValuesEncodingPinned fixes the layout of one value of each type, byte for byte,
// so that reordering two fields cannot go unnoticed.
func TestStateValuesEncodingPinned(t *testing.T) {
	u16 := func(n int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(n)) }
	u64 := func(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	r := sampleRecord()
	g := sampleGrantState(1)
	e := sampleAudit(protocol.AuditRequest, 5)
	ts := sampleTombstone()
	n := sampleNode()
	for _, c := range []struct {
		name string
		v    stateValue
		want []byte
	}{
		{"record", r, cat([]byte{1}, r.ID[:], r.Owner[:], u16(len(r.CID)), r.CID, u64(int64(r.Size)), r.Capsule[:],
			r.DelegatingKey[:], u64(r.Height), u64(r.Time), r.TxHash[:])},
		{"grant", g, cat([]byte{2}, g.ID[:], g.Record[:], g.Owner[:], g.OwnerEnc[:], g.RecipientSig[:], g.RecipientEnc[:], []byte{2, 1},
			g.Nodes[0].Proxy[:], g.Nodes[0].Commitment[:], u64(g.NotBefore), u64(g.NotAfter), u16(len(g.Purpose)), []byte(g.Purpose),
			u64(g.Height), u64(g.Time), g.TxHash[:], []byte{1}, u64(g.RevokedHeight), []byte{1}, u64(g.ExpiredHeight))},
		{"audit", e, cat([]byte{1, 3}, e.Record[:], []byte{1}, e.Grant[:], []byte{0}, u16(len(e.Purpose)), []byte(e.Purpose),
			u64(e.Height), u64(e.Time), []byte{1}, e.TxHash[:])},
		{"tombstone", ts, cat([]byte{1}, ts.Record[:], u16(len(ts.CID)), ts.CID, u64(ts.Height), u64(ts.Time), ts.TxHash[:])},
		{"node", n, cat([]byte{1}, u16(len(n.Name)), []byte(n.Name), u16(len(n.API)), []byte(n.API), n.ProxyKey[:],
			u16(len(n.ValidatorKey)), n.ValidatorKey, u64(n.Power))},
	} {
		if got := mustMarshal(t, c.v); !bytes.Equal(got, c.want) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, got, c.want)
		}
	}
	// The audit kinds' bytes never change.
	for i, kind := range []string{protocol.AuditPut, protocol.AuditGrant, protocol.AuditRequest, protocol.AuditRevoke,
		protocol.AuditExpire, protocol.AuditErase, protocol.AuditHolds, protocol.AuditDestroyed, protocol.AuditRecoverySetup,
		protocol.AuditRecoveryStart, protocol.AuditRecoveryApprove, protocol.AuditRecoveryCancel, protocol.AuditRecoveryFinish} {
		if b := mustMarshal(t, sampleAudit(kind, 0)); b[1] != byte(i+1) {
			t.Errorf("audit kind %q is byte %d, want %d", kind, b[1], i+1)
		}
	}
}

// grow lengthens the u16-prefixed field at off by one byte.
func grow(b []byte, off int) []byte {
	n := int(binary.BigEndian.Uint16(b[off:]))
	out := append([]byte(nil), b[:off]...)
	out = binary.BigEndian.AppendUint16(out, uint16(n+1))
	out = append(out, b[off+2:off+2+n]...)
	out = append(out, 'x')
	return append(out, b[off+2+n:]...)
}

func with(b []byte, off int, v byte) []byte {
	out := append([]byte(nil), b...)
	out[off] = v
	return out
}

func TestStateValuesDecodeRejects(t *testing.T) {
	type reject struct {
		name string
		kind int
		b    []byte
	}
	var cases []reject
	// Every proper prefix, trailing bytes and other versions, for every sample.
	for _, s := range samples() {
		b := mustMarshal(t, s.v)
		for i := 0; i < len(b); i++ {
			cases = append(cases, reject{fmt.Sprintf("%s truncated to %d", s.name, i), s.kind, b[:i]})
		}
		cases = append(cases,
			reject{s.name + " trailing byte", s.kind, append(append([]byte(nil), b...), 0)},
			reject{s.name + " version 0", s.kind, with(b, 0, 0)},
			reject{s.name + " version +1", s.kind, with(b, 0, b[0]+1)},
		)
	}
	none, all := mustMarshal(t, sampleAudit(protocol.AuditGrant, 0)), mustMarshal(t, sampleAudit(protocol.AuditGrant, 7))
	grant := mustMarshal(t, sampleGrantState(1))
	const grantCount = 1 + 32 + 32 + 33 + 33 + 33 + 33 + 1 // offset of the node count
	grantPurpose := grantCount + 1 + 65 + 8 + 8
	maxGrant := sampleGrantState(0)
	maxGrant.Purpose = strings.Repeat("p", protocol.MaxPurpose)
	maxAudit := sampleAudit(protocol.AuditGrant, 0)
	maxAudit.Purpose = strings.Repeat("p", protocol.MaxPurpose)
	longRecord := &protocol.Record{CID: bytes.Repeat([]byte{'c'}, protocol.MaxCIDBytes)}
	longTomb := &protocol.Tombstone{CID: bytes.Repeat([]byte{'c'}, protocol.MaxCIDBytes)}
	longNode := &protocol.Node{Name: strings.Repeat("n", protocol.MaxNodeName), API: strings.Repeat("a", protocol.MaxAPIURL),
		ValidatorKey: make([]byte, protocol.MaxValidatorKey)}
	nodeAPI := 1 + 2 + protocol.MaxNodeName
	nodeVK := nodeAPI + 2 + protocol.MaxAPIURL + 33
	cases = append(cases,
		reject{"audit grant presence 2", 2, with(none, 34, 2)},
		reject{"audit actor presence 2", 2, with(none, 35, 2)},
		reject{"audit tx hash presence 2", 2, with(none, len(none)-1, 2)},
		reject{"audit presence 255", 2, with(all, 34, 255)},
		reject{"audit kind 0", 2, with(none, 1, 0)},
		reject{"audit kind 15", 2, with(none, 1, 15)},
		// An emergency entry is co-signed, and only an emergency entry is.
		reject{"audit emergency not co-signed", 2, with(none, 1, 14)},
		reject{"audit co-signed grant", 2, with(mustMarshal(t, coSigned(protocol.AuditEmergency, 0)), 1, 2)},
		reject{"audit kind 255", 2, with(none, 1, 255)},
		reject{"audit purpose too long", 2, grow(mustMarshal(t, maxAudit), 1+1+32+1+1)},
		reject{"grant revoked 2", 1, with(grant, len(grant)-18, 2)},
		reject{"grant expired 2", 1, with(grant, len(grant)-9, 2)},
		reject{"grant 65 nodes", 1, with(grant, grantCount, protocol.MaxGrantNodes+1)},
		reject{"grant 255 nodes", 1, with(grant, grantCount, 255)},
		reject{"grant threshold 65", 1, with(grant, grantCount-1, protocol.MaxGrantNodes+1)},
		reject{"grant threshold 255", 1, with(grant, grantCount-1, 255)},
		reject{"grant purpose too long", 1, grow(mustMarshal(t, maxGrant), grantPurpose-65)},
		reject{"record cid too long", 0, grow(mustMarshal(t, longRecord), 1+32+33)},
		reject{"tombstone cid too long", 3, grow(mustMarshal(t, longTomb), 1+32)},
		reject{"node name too long", 4, grow(mustMarshal(t, longNode), 1)},
		reject{"node api too long", 4, grow(mustMarshal(t, longNode), nodeAPI)},
		reject{"node validator key too long", 4, grow(mustMarshal(t, longNode), nodeVK)},
	)
	for _, c := range cases {
		v := stateKinds[c.kind].new()
		if err := v.UnmarshalBinary(c.b); !errors.Is(err, protocol.ErrMalformed) {
			t.Errorf("%s: got %v, want malformed", c.name, err)
		}
	}
	// The sanity of the offsets used above: the unmodified encodings decode.
	for _, b := range [][]byte{none, all, grant} {
		var e protocol.AuditEntry
		var g protocol.GrantState
		if e.UnmarshalBinary(b) != nil && g.UnmarshalBinary(b) != nil {
			t.Fatalf("unmodified encoding %x does not decode", b)
		}
	}
}

func TestStateValuesMarshalRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n+1) }
	grant := func(edit func(*protocol.GrantState)) stateValue { g := sampleGrantState(1); edit(g); return g }
	for name, v := range map[string]stateValue{
		"record cid":         &protocol.Record{CID: []byte(long(protocol.MaxCIDBytes))},
		"tombstone cid":      &protocol.Tombstone{CID: []byte(long(protocol.MaxCIDBytes))},
		"node name":          &protocol.Node{Name: long(protocol.MaxNodeName)},
		"node api":           &protocol.Node{API: long(protocol.MaxAPIURL)},
		"node validator key": &protocol.Node{ValidatorKey: []byte(long(protocol.MaxValidatorKey))},
		"grant nodes":        sampleGrantState(protocol.MaxGrantNodes + 1),
		"grant threshold -1": grant(func(g *protocol.GrantState) { g.Threshold = -1 }),
		"grant threshold 65": grant(func(g *protocol.GrantState) { g.Threshold = protocol.MaxGrantNodes + 1 }),
		"grant purpose":      grant(func(g *protocol.GrantState) { g.Purpose = long(protocol.MaxPurpose) }),
		"audit no kind":      sampleAudit("", 0),
		"audit unknown kind": sampleAudit("granted", 0),
		"audit purpose": func() stateValue {
			e := sampleAudit(protocol.AuditRequest, 0)
			e.Purpose = long(protocol.MaxPurpose)
			return e
		}(),
	} {
		if b, err := v.MarshalBinary(); !errors.Is(err, protocol.ErrInvalid) {
			t.Errorf("%s: got %x, %v, want invalid", name, b, err)
		}
	}
}

func TestGrantLiveAt(t *testing.T) {
	g := &protocol.GrantState{NotBefore: 10, NotAfter: 20}
	for tm, want := range map[int64]error{9: protocol.ErrNotYetValid, 10: nil, 19: nil, 20: protocol.ErrGrantExpired, 21: protocol.ErrGrantExpired} {
		if err := g.LiveAt(tm); (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("LiveAt(%d) = %v, want %v", tm, err, want)
		}
	}
	if err := (&protocol.GrantState{}).LiveAt(1 << 62); err != nil {
		t.Errorf("a grant with no bounds: %v", err)
	}
	if err := (&protocol.GrantState{Expired: true, Revoked: true}).LiveAt(0); !errors.Is(err, protocol.ErrGrantRevoked) {
		t.Errorf("revoked and expired: %v, want revoked", err)
	}
	if err := (&protocol.GrantState{Expired: true, NotAfter: 100}).LiveAt(0); !errors.Is(err, protocol.ErrGrantExpired) {
		t.Errorf("marked expired: %v", err)
	}
}

// FuzzStateValues: decoding never panics, a refusal is malformed, and whatever decodes
// re-encodes to the same bytes (the encodings are canonical).
func FuzzStateValues(f *testing.F) {
	for _, s := range samples() {
		b, err := s.v.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(s.kind), b)
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		k := stateKinds[int(kind)%len(stateKinds)]
		v := k.new()
		if err := v.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("%s: refusal is not malformed: %v", k.name, err)
			}
			return
		}
		again, err := v.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: decoded %x but does not re-encode: %v", k.name, b, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoding differs:\n  in %x\n out %x", k.name, b, again)
		}
	})
}
