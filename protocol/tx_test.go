package protocol_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// update rewrites the golden files of this package (testdata/tx-vectors.json and the fuzz
// seeds of FuzzDecodeTx and FuzzParseTx) instead of comparing against them:
//
//	go test ./protocol -run 'TestSignBytesVectors|TestWriteFuzzSeeds' -update
var update = flag.Bool("update", false, "rewrite testdata/tx-vectors.json and the transaction fuzz seeds")

const testChain = "rr-test"

// vectorTxs are fixed transactions whose sign bytes are pinned in testdata/tx-vectors.json,
// so that the encoding and the signing convention cannot drift unnoticed.
func vectorTxs() map[string]*protocol.Tx {
	var signer, rs, re, proxy protocol.PubKey
	signer[0], rs[0], re[0], proxy[0] = 2, 3, 2, 3
	for i := 1; i < 33; i++ {
		signer[i], rs[i], re[i], proxy[i] = byte(i), byte(0x40+i), byte(0x80+i), byte(0xc0+i)
	}
	var capsule protocol.CapsuleBytes
	for i := range capsule {
		capsule[i] = byte(i)
	}
	rec, grant := protocol.ID{0xaa, 1}, protocol.ID{0xbb, 2}
	// Each expires at a different time, so that the vectors pin where the field goes.
	const exp = 1_767_225_600_000_000_000 // 2026-01-01T00:00:00Z
	return map[string]*protocol.Tx{
		"put_record": {ChainID: "rr-vectors", Signer: signer, Sequence: 0, Expires: exp,
			Body: &protocol.PutRecord{CID: []byte("bafkrei-example"), Size: 1 << 20, Capsule: capsule, DelegatingKey: re}},
		"grant": {ChainID: "rr-vectors", Signer: signer, Sequence: 1, Expires: exp + 1,
			Body: &protocol.Grant{Record: rec, OwnerEnc: rs, RecipientSig: rs, RecipientEnc: re, Threshold: 0,
				Nodes:     []protocol.GrantNode{{Proxy: proxy, Commitment: protocol.Hash32{0xcc}}},
				NotBefore: 1_700_000_000_000_000_000, NotAfter: 1_800_000_000_000_000_000, Purpose: "treatment"}},
		"revoke":             {ChainID: "rr-vectors", Signer: signer, Sequence: 2, Expires: exp + 2, Body: &protocol.Revoke{Grant: grant}},
		"request_access":     {ChainID: "rr-vectors", Signer: rs, Sequence: 0, Expires: exp + 3, Body: &protocol.RequestAccess{Grant: grant, Purpose: "consultation"}},
		"erase_record":       {ChainID: "rr-vectors", Signer: signer, Sequence: 3, Expires: exp + 4, Body: &protocol.EraseRecord{Record: rec}},
		"holds_blob":         {ChainID: "rr-vectors", Signer: proxy, Sequence: 0, Expires: exp + 5, Body: &protocol.HoldsBlob{Record: rec}},
		"fragment_destroyed": {ChainID: "rr-vectors", Signer: proxy, Sequence: 1, Expires: exp + 6, Body: &protocol.FragmentDestroyed{Grant: grant}},
		"admit": {ChainID: "rr-vectors", Signer: proxy, Sequence: 2, Expires: exp + 7,
			Body: &protocol.Admit{Tier: protocol.TierMember, Accounts: []protocol.PubKey{signer, rs}}},
		"enrol": {ChainID: "rr-vectors", Signer: signer, Sequence: 4, Expires: exp + 8, Body: &protocol.Enrol{Nonce: 0x0102030405060708}},
		"recovery_setup": {ChainID: "rr-vectors", Signer: signer, Sequence: 5, Expires: exp + 9,
			Body: &protocol.RecoverySetup{Record: rec, OwnerEnc: re, Threshold: 0,
				Nodes: []protocol.GrantNode{{Proxy: proxy, Commitment: protocol.Hash32{0xcc}}}, Delay: 48 * 3600 * 1e9,
				Guardians: []protocol.Guardian{{Signing: rs, Receiving: re, Share: []byte("sealed share 1")},
					{Signing: proxy, Receiving: re, Share: []byte("sealed share 2")}},
				Commitments: []protocol.PubKey{re, rs}}},
		"recovery_start":   {ChainID: "rr-vectors", Signer: rs, Sequence: 1, Expires: exp + 10, Body: &protocol.RecoveryStart{Owner: signer, DeviceEnc: re}},
		"recovery_approve": {ChainID: "rr-vectors", Signer: proxy, Sequence: 3, Expires: exp + 11, Body: &protocol.RecoveryApprove{Process: protocol.Hash32{0xdd, 3}, Share: []byte("sealed share")}},
		"recovery_cancel":  {ChainID: "rr-vectors", Signer: signer, Sequence: 6, Expires: exp + 12, Body: &protocol.RecoveryCancel{Process: protocol.Hash32{0xdd, 3}}},
		"recovery_finish":  {ChainID: "rr-vectors", Signer: rs, Sequence: 2, Expires: exp + 13, Body: &protocol.RecoveryFinish{Process: protocol.Hash32{0xdd, 3}}},
		"delegate": {ChainID: "rr-vectors", Signer: signer, Sequence: 7, Expires: exp + 14,
			Body: &protocol.Delegate{Caregiver: rs, CaregiverEnc: re, Rights: protocol.RightGrant | protocol.RightRevoke,
				NotBefore: 1_700_000_000_000_000_000, NotAfter: 1_800_000_000_000_000_000}},
		"end_delegation": {ChainID: "rr-vectors", Signer: rs, Sequence: 3, Expires: exp + 15, Body: &protocol.EndDelegation{Delegation: protocol.ID{0xee, 4}}},
		"register_service": {ChainID: "rr-vectors", Signer: proxy, Sequence: 4, Expires: exp + 16,
			Body: &protocol.RegisterService{Name: "City ED", Org: rs, OrgEnc: re,
				Clinicians: []protocol.Clinician{{Key: signer, Name: "Dr A"}, {Key: proxy, Name: "Dr B"}}}},
		"emergency_request": {ChainID: "rr-vectors", Signer: signer, Sequence: 8, Expires: exp + 17,
			Body: &protocol.EmergencyRequest{Grant: grant, Reason: "unconscious on arrival", CoSigner: proxy, CoSig: protocol.Sig{0x5c}}},
		"open_inbox": {ChainID: "rr-vectors", Signer: rs, Sequence: 4, Expires: exp + 21,
			Body: &protocol.OpenInbox{FirstSlot: 0x01020304, Keys: []protocol.PubKey{re, proxy}, Issuer: &signer}},
		"issue": {ChainID: "rr-vectors", Signer: signer, Sequence: 9, Expires: exp + 22,
			Body: &protocol.Issue{Subject: rs, Slot: 0x01020305, CID: []byte("bafkrei-issued"), Size: 4096, Capsule: capsule}},
		"accept_issued": {ChainID: "rr-vectors", Signer: rs, Sequence: 5, Expires: exp + 23, Body: &protocol.AcceptIssued{Record: rec}},
		"rotate": {ChainID: "rr-vectors", Signer: signer, Sequence: 9, Expires: exp + 18,
			Body: &protocol.Rotate{Successor: rs, SuccessorEnc: re, Proof: protocol.Sig{0x6d}}},
		"stream_create": {ChainID: "rr-vectors", Signer: signer, Sequence: 9, Expires: exp + 18,
			Body: &protocol.StreamCreate{Epoch: 600, Label: protocol.Hash32{0x1a}, DelegatingKey: re}},
		"stream_append": {ChainID: "rr-vectors", Signer: signer, Sequence: 10, Expires: exp + 19,
			Body: &protocol.StreamAppend{Stream: protocol.ID{0x5e, 1}, Epoch: 2_833_333, Capsule: capsule, CID: []byte("bafkrei-chunk"),
				Size: 4096, First: 1_699_999_800_000_000_000, Last: 1_700_000_399_000_000_000, Count: 600}},
		"stream_grant": {ChainID: "rr-vectors", Signer: signer, Sequence: 11, Expires: exp + 20,
			Body: &protocol.StreamGrant{Grant: protocol.Grant{Record: protocol.ID{0x5e, 1}, OwnerEnc: rs, RecipientSig: rs, RecipientEnc: re,
				Nodes: []protocol.GrantNode{{Proxy: proxy, Commitment: protocol.Hash32{0xcc}}}, Purpose: "underwriting"},
				From: 1_700_000_400_000_000_000, Until: 1_700_029_200_000_000_000}},
		"stream_erase": {ChainID: "rr-vectors", Signer: signer, Sequence: 12, Expires: exp + 21, Body: &protocol.StreamErase{Stream: protocol.ID{0x5e, 1}}},
		"stream_rekey": {ChainID: "rr-vectors", Signer: signer, Sequence: 13, Expires: exp + 22,
			Body: &protocol.StreamRekey{Stream: protocol.ID{0x5e, 1}, Generation: 1, DelegatingKey: re, FirstEpoch: 2_833_334}},
	}
}

// vectors computes the pinned values: the sign bytes of each vector transaction, and the
// record and grant ids the put_record and grant vectors get (their derivation is protocol
// too: a client computes them before submitting).
func vectors() map[string]string {
	out := map[string]string{}
	txs := vectorTxs()
	for name, tx := range txs {
		out[name] = hex.EncodeToString(tx.SignBytes())
	}
	put, grant := txs["put_record"], txs["grant"]
	out["record_id"] = protocol.RecordID(put.ChainID, put.Signer, put.Sequence).String()
	out["grant_id"] = protocol.GrantID(grant.ChainID, grant.Signer, grant.Sequence).String()
	d := txs["delegate"]
	out["delegation_id"] = protocol.DelegationID(d.ChainID, d.Signer, d.Sequence).String()
	out["emergency_cosign"] = hex.EncodeToString(protocol.EmergencyCoSignBytes(txs["emergency_request"]))
	out["rotation_proof"] = hex.EncodeToString(protocol.RotationProofBytes("rr-vectors", txs["rotate"].Signer))
	sc := txs["stream_create"]
	out["stream_id"] = protocol.StreamID(sc.ChainID, sc.Signer, sc.Sequence).String()
	return out
}

func TestSignBytesVectors(t *testing.T) {
	path := filepath.Join("testdata", "tx-vectors.json")
	got := vectors()
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("%d vectors on file, %d computed (run with -update after a deliberate change)", len(want), len(got))
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: sign bytes\n got %s\nwant %s", name, got[name], w)
		}
	}
}

// TestSignBytesConvention checks the structure the vectors pin: domain ‖ u16 len(chain) ‖
// chain ‖ the transaction's encoding without its signature.
func TestSignBytesConvention(t *testing.T) {
	const domain = "resilientrecords/ledger/tx/v2\x00"
	for name, tx := range vectorTxs() {
		enc := tx.Encode()
		want := []byte(domain)
		want = binary.BigEndian.AppendUint16(want, uint16(len(tx.ChainID)))
		want = append(want, tx.ChainID...)
		want = append(want, enc[:len(enc)-len(tx.Sig)]...)
		if !bytes.Equal(tx.SignBytes(), want) {
			t.Errorf("%s: sign bytes do not follow the convention:\n got %x\nwant %x", name, tx.SignBytes(), want)
		}
	}
	// The chain id is signed: the same transaction on another chain signs other bytes.
	tx := vectorTxs()["revoke"]
	a := tx.SignBytes()
	tx.ChainID = "rr-vectors2"
	if bytes.Equal(a, tx.SignBytes()) {
		t.Fatal("sign bytes do not depend on the chain id")
	}
}

// TestTxHeaderLayout pins the version 3 header every transaction starts with: version ‖
// type ‖ u16 len(chain) ‖ chain ‖ signer ‖ sequence:u64 ‖ expires:i64, then the body; and
// each vector's type byte and name.
func TestTxHeaderLayout(t *testing.T) {
	if protocol.TxVersion != 3 {
		t.Fatalf("TxVersion %d, want 3", protocol.TxVersion)
	}
	types := map[string]protocol.TxType{"put_record": 1, "grant": 2, "revoke": 3, "request_access": 4, "erase_record": 5,
		"holds_blob": 6, "fragment_destroyed": 7, "admit": 8, "enrol": 9, "recovery_setup": 12, "recovery_start": 13,
		"recovery_approve": 14, "recovery_cancel": 15, "recovery_finish": 16, "delegate": 10, "end_delegation": 11,
		"register_service": 17, "emergency_request": 18, "rotate": 19,
		"open_inbox": 21, "issue": 22, "accept_issued": 23,
		"stream_create": 24, "stream_append": 25, "stream_grant": 26, "stream_erase": 27, "stream_rekey": 28}
	for name, tx := range vectorTxs() {
		if tx.Body.Type() != types[name] || tx.Body.Type().String() != name {
			t.Errorf("%s: type %d named %q", name, tx.Body.Type(), tx.Body.Type())
		}
		want := []byte{3, byte(types[name])}
		want = binary.BigEndian.AppendUint16(want, uint16(len(tx.ChainID)))
		want = append(want, tx.ChainID...)
		want = append(want, tx.Signer[:]...)
		want = binary.BigEndian.AppendUint64(want, tx.Sequence)
		want = binary.BigEndian.AppendUint64(want, uint64(tx.Expires))
		if enc := tx.Encode(); !bytes.HasPrefix(enc, want) {
			t.Errorf("%s: header\n got %x\nwant %x", name, enc[:min(len(enc), len(want))], want)
		}
		back, err := protocol.ParseTx(tx.Encode())
		if err != nil || back.Expires != tx.Expires || back.Sequence != tx.Sequence {
			t.Errorf("%s: parsed back %+v, %v", name, back, err)
		}
	}
	// FragmentDestroyed's body is the grant id alone.
	tx := vectorTxs()["fragment_destroyed"]
	enc := tx.Encode()
	body := enc[len(enc)-len(tx.Sig)-32 : len(enc)-len(tx.Sig)]
	if g := tx.Body.(*protocol.FragmentDestroyed).Grant; !bytes.Equal(body, g[:]) {
		t.Errorf("fragment_destroyed body %x, want the grant id %x", body, g)
	}
	if s := protocol.TxType(30).String(); s != "tx_type_30" {
		t.Errorf("type 30 is named %q", s)
	}
}

// TestSealed: Sealed signs at the sequence, on the chain, with the expiry it is given.
func TestSealed(t *testing.T) {
	a := protocoltest.NewAccount(testChain)
	exp := time.Date(2026, 3, 1, 9, 10, 0, 123, time.UTC)
	raw, err := protocol.Sealed(a.Signer, testChain, 41, exp, &protocol.FragmentDestroyed{Grant: protocol.ID{4}})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := protocol.DecodeTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	if tx.ChainID != testChain || tx.Signer != a.Key || tx.Sequence != 41 || tx.Expires != exp.UnixNano() || !tx.VerifySig() ||
		tx.Body.(*protocol.FragmentDestroyed).Grant != (protocol.ID{4}) {
		t.Fatalf("sealed %+v", tx)
	}
	// protocoltest's accounts expire their transactions Lifetime after their clock.
	a.Clock = func() time.Time { return exp }
	if tx, err := protocol.DecodeTx(a.Sign(&protocol.Revoke{})); err != nil || tx.Expires != exp.Add(protocoltest.Lifetime).UnixNano() {
		t.Fatalf("account with a clock: %+v, %v", tx, err)
	}
}

func TestTxRoundTripAndSignature(t *testing.T) {
	a := protocoltest.NewAccount(testChain)
	tx := &protocol.Tx{ChainID: testChain, Sequence: 7, Expires: 1_800_000_000_000_000_000, Body: protocoltest.PutRecord("x", 3)}
	if err := tx.Sign(a.Signer); err != nil {
		t.Fatal(err)
	}
	if tx.Signer != a.Key {
		t.Fatal("Sign did not set the signer")
	}
	raw := tx.Encode()
	back, err := protocol.DecodeTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Encode(), raw) || !back.VerifySig() {
		t.Fatal("round trip changed the tx or broke the signature")
	}
	back.Sequence++
	if back.VerifySig() {
		t.Fatal("signature verified after the sequence changed")
	}
	back.Sequence--
	back.Expires++
	if back.VerifySig() {
		t.Fatal("signature verified after the expiry changed")
	}
	back.Expires--
	if !back.VerifySig() {
		t.Fatal("signature does not verify once restored")
	}
	back.ChainID = "rr-other"
	if back.VerifySig() {
		t.Fatal("signature verified on another chain")
	}
	if protocol.TxHash(raw) == protocol.TxHash(a.SignAt(7, tx.Body)) {
		t.Fatal("two signatures of the same transaction have the same hash (signatures are hedged)")
	}
}

func TestDecodeRejects(t *testing.T) {
	a := protocoltest.NewAccount(testChain)
	put := protocoltest.PutRecord("x", 0)
	good := a.Sign(put)
	badCapsule := *put
	badCapsule.Capsule[40] ^= 1
	noCID := *put
	noCID.CID = nil
	badSigner := append([]byte(nil), good...)
	copy(badSigner[2+2+len(testChain):], bytes.Repeat([]byte{0xff}, 33)) // version, type, chain id, signer
	nodes := make([]protocol.GrantNode, protocol.MaxGrantNodes+1)
	for i := range nodes {
		nodes[i].Proxy = protocoltest.NewAccount(testChain).Key
	}
	grant := func(edit func(g *protocol.Grant)) []byte {
		g := protocoltest.Grant(protocol.ID{1}, a.Key, []protocol.PubKey{a.Key}, 0)
		edit(g)
		return a.Sign(g)
	}
	expiring := func(expires int64) []byte {
		tx := &protocol.Tx{ChainID: testChain, Expires: expires, Body: &protocol.Revoke{}}
		if err := tx.Sign(a.Signer); err != nil {
			t.Fatal(err)
		}
		return tx.Encode()
	}
	cases := map[string]struct {
		raw  []byte
		want error
	}{
		"empty":            {nil, protocol.ErrMalformed},
		"version 1":        {append([]byte{1}, good[1:]...), protocol.ErrMalformed},
		"version 2":        {append([]byte{2}, good[1:]...), protocol.ErrMalformed},
		"version 4":        {append([]byte{4}, good[1:]...), protocol.ErrMalformed},
		"unreserved type":  {append([]byte{protocol.TxVersion, 30}, good[2:]...), protocol.ErrUnsupported},
		"unknown type":     {append([]byte{protocol.TxVersion, 200}, good[2:]...), protocol.ErrUnsupported},
		"expires zero":     {expiring(0), protocol.ErrInvalid},
		"expires negative": {expiring(-1), protocol.ErrInvalid},
		"expires min":      {expiring(math.MinInt64), protocol.ErrInvalid},
		"truncated":        {good[:len(good)-1], protocol.ErrMalformed},
		"trailing":         {append(append([]byte{}, good...), 0), protocol.ErrMalformed},
		"oversized":        {make([]byte, protocol.MaxTxBytes+1), protocol.ErrMalformed},
		"long chain id":    {protocoltest.NewAccount(strings.Repeat("c", protocol.MaxChainID+1)).Sign(put), protocol.ErrMalformed},
		"signer not point": {badSigner, protocol.ErrInvalid},
		"bad capsule":      {a.Sign(&badCapsule), protocol.ErrInvalid},
		"empty cid":        {a.Sign(&noCID), protocol.ErrInvalid},
		"bad purpose":      {a.Sign(&protocol.RequestAccess{Purpose: "\xff"}), protocol.ErrInvalid},
		"long purpose":     {a.Sign(&protocol.RequestAccess{Purpose: strings.Repeat("p", protocol.MaxPurpose+1)}), protocol.ErrMalformed},
		"time inversion":   {grant(func(g *protocol.Grant) { g.NotBefore, g.NotAfter = 10, 5 }), protocol.ErrInvalid},
		"negative time":    {grant(func(g *protocol.Grant) { g.NotBefore = -1 }), protocol.ErrInvalid},
		"threshold > n":    {grant(func(g *protocol.Grant) { g.Threshold = 2 }), protocol.ErrInvalid},
		"no nodes":         {grant(func(g *protocol.Grant) { g.Nodes = nil }), protocol.ErrInvalid},
		"too many nodes":   {grant(func(g *protocol.Grant) { g.Nodes = nodes }), protocol.ErrMalformed},
		"node twice":       {grant(func(g *protocol.Grant) { g.Nodes = append(g.Nodes, g.Nodes[0]) }), protocol.ErrInvalid},
		"bad recipient":    {grant(func(g *protocol.Grant) { g.RecipientEnc = protocol.PubKey{} }), protocol.ErrInvalid},
		"bad owner key":    {grant(func(g *protocol.Grant) { g.OwnerEnc = protocol.PubKey{} }), protocol.ErrInvalid},
	}
	for name, c := range cases {
		if _, err := protocol.DecodeTx(c.raw); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	if _, err := protocol.DecodeTx(good); err != nil {
		t.Fatalf("the good transaction: %v", err)
	}
	// An expiry of zero or less parses (it is well-formed) but is refused statelessly; one
	// nanosecond after the epoch is a valid expiry (the ledger decides whether it is past).
	if tx, err := protocol.ParseTx(expiring(0)); err != nil || tx.Expires != 0 {
		t.Fatalf("expires 0 does not parse: %v", err)
	}
	if tx, err := protocol.DecodeTx(expiring(1)); err != nil || tx.Expires != 1 {
		t.Fatalf("expires 1: %v", err)
	}
	if _, err := protocol.DecodeTx(a.Sign(&protocol.FragmentDestroyed{Grant: protocol.ID{1}})); err != nil {
		t.Fatalf("fragment_destroyed: %v", err)
	}
}

// TestFaultTolerance: f = ⌊(n−1)/3⌋ of n nodes.
func TestFaultTolerance(t *testing.T) {
	for n, want := range map[int]int{-1: 0, 0: 0, 1: 0, 2: 0, 3: 0, 4: 1, 5: 1, 6: 1, 7: 2, 9: 2, 10: 3, 64: 21} {
		if got := protocol.FaultTolerance(n); got != want {
			t.Errorf("FaultTolerance(%d) = %d, want %d", n, got, want)
		}
	}
	nw := testNetwork()
	if nw.F() != 0 {
		t.Errorf("F of 2 nodes = %d", nw.F())
	}
	for len(nw.Nodes) < 7 {
		nw.Nodes = append(nw.Nodes, nw.Nodes[0])
	}
	if nw.F() != 2 {
		t.Errorf("F of 7 nodes = %d", nw.F())
	}
}

// TestTolerates: a grant on n of a registry's nodes with threshold t needs t > f and
// n ≥ t + f, f of the registry; the edges for registries of 1, 4 and 7 nodes.
func TestTolerates(t *testing.T) {
	for _, c := range []struct {
		size, n, t int
		ok         bool
	}{
		{1, 1, 0, false}, // t = f
		{1, 1, 1, true},  // t = f+1, n = t+f
		{1, 0, 1, false}, // n = t+f−1
		{1, 1, 2, false}, // n ≥ t + f bounds the threshold by n too
		{4, 4, 1, false},
		{4, 3, 1, false},
		{4, 3, 2, true},
		{4, 4, 2, true},
		{4, 2, 2, false},
		{4, 4, 3, true}, // the default threshold on every node
		{4, 3, 3, false},
		{7, 7, 2, false},
		{7, 5, 3, true},
		{7, 4, 3, false},
		{7, 7, 5, true},
		{7, 6, 5, false},
		{7, 4, 4, false},
	} {
		err := protocol.Tolerates(c.size, c.n, c.t)
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, protocol.ErrInvalid)) {
			t.Errorf("Tolerates(size %d, n %d, t %d) = %v, want ok %v", c.size, c.n, c.t, err, c.ok)
		}
	}
	// The default threshold on the whole registry is always tolerated, and below f+1 never.
	for size := 1; size <= protocol.MaxGrantNodes; size++ {
		f := protocol.FaultTolerance(size)
		if err := protocol.Tolerates(size, size, protocol.DefaultThreshold(size, size)); err != nil {
			t.Errorf("size %d: the default threshold on every node: %v", size, err)
		}
		if protocol.Tolerates(size, size, f) == nil || protocol.Tolerates(size, 2*f, f+1) == nil || protocol.Tolerates(size, 2*f+1, f+1) != nil {
			t.Errorf("size %d: the edges at f = %d", size, f)
		}
	}
}

// TestDefaultThreshold: n − f of a grant's n nodes, f of the registry, at least 1: 2f+1 of
// n = 3f+1 for a grant on the whole registry.
func TestDefaultThreshold(t *testing.T) {
	for _, c := range []struct{ n, registry, want int }{
		{1, 1, 1}, {4, 4, 3}, {7, 7, 5}, {10, 10, 7}, {64, 64, 43}, // 2f+1 of 3f+1
		{2, 2, 2}, {3, 3, 3}, {5, 5, 4}, {6, 6, 5}, // f = 0 or 1 below the next 3f+1
		{3, 4, 2}, {2, 4, 1}, {1, 4, 1}, {5, 7, 3}, {0, 4, 1}, // grants on part of the registry; at least 1
	} {
		if got := protocol.DefaultThreshold(c.n, c.registry); got != c.want {
			t.Errorf("DefaultThreshold(%d of %d) = %d, want %d", c.n, c.registry, got, c.want)
		}
	}
	g := &protocol.Grant{Nodes: make([]protocol.GrantNode, 4)}
	if g.EffectiveThreshold(4) != 3 || g.EffectiveThreshold(7) != 2 {
		t.Fatal("threshold 0 of 4 nodes is not 3 on a 4-node registry, 2 on a 7-node one")
	}
	g.Threshold = 2
	if g.EffectiveThreshold(4) != 2 || g.EffectiveThreshold(64) != 2 {
		t.Fatal("an explicit threshold is not kept")
	}
}

// isCoded reports whether err is a refusal of the table other than internal.
func isCoded(err error) bool {
	var e *protocol.Error
	return errors.As(err, &e) && e.Code != protocol.ErrInternal.Code && e.LedgerCode != 0
}

// FuzzDecodeTx: decoding never panics, a refusal carries a code, and whatever decodes
// re-encodes to the same bytes (the encoding is canonical).
func FuzzDecodeTx(f *testing.F) {
	for _, tx := range vectorTxs() {
		f.Add(tx.Encode())
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := protocol.DecodeTx(raw)
		if err != nil {
			if !isCoded(err) {
				t.Fatalf("decode error without a ledger code: %v", err)
			}
			return
		}
		if !bytes.Equal(tx.Encode(), raw) {
			t.Fatalf("re-encoding differs: %x", raw)
		}
	})
}

// FuzzParseTx reaches past the curve checks that stop most mutated inputs in DecodeTx:
// whatever parses re-encodes to the same bytes.
func FuzzParseTx(f *testing.F) {
	for _, tx := range vectorTxs() {
		f.Add(tx.Encode())
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := protocol.ParseTx(raw)
		if err != nil {
			if !isCoded(err) {
				t.Fatalf("parse error without a ledger code: %v", err)
			}
			return
		}
		if !bytes.Equal(tx.Encode(), raw) {
			t.Fatalf("re-encoding differs: %x", raw)
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzDecodeTx and FuzzParseTx with -update:
// one valid transaction of each type, with real keys, a real capsule and a real signature.
// The randomness is seeded, so the files come out the same every time.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the seeds")
	}
	cryptotest.SetGlobalRandom(t, 1)
	owner, doc, proxy := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	clock := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) } // the expiries too are fixed
	owner.Clock, doc.Clock, proxy.Clock = clock, clock, clock
	rec := owner.RecordID()
	gid := protocol.GrantID(testChain, owner.Key, 1)
	g := protocoltest.Grant(rec, doc.Key, []protocol.PubKey{proxy.Key, owner.Key}, 1_800_000_000_000_000_000)
	g.NotBefore = 1_700_000_000_000_000_000
	seeds := map[string][]byte{
		"put_record":         owner.Next(protocoltest.PutRecord("bafkreiseed", 9)),
		"grant":              owner.Next(g),
		"revoke":             owner.Next(&protocol.Revoke{Grant: gid}),
		"request_access":     doc.Next(&protocol.RequestAccess{Grant: gid, Purpose: "consult"}),
		"erase_record":       owner.Next(&protocol.EraseRecord{Record: rec}),
		"holds_blob":         proxy.Next(&protocol.HoldsBlob{Record: rec}),
		"fragment_destroyed": proxy.Next(&protocol.FragmentDestroyed{Grant: gid}),
		"recovery_setup": owner.Next(&protocol.RecoverySetup{Record: rec, OwnerEnc: owner.Key, Nodes: g.Nodes, Delay: int64(time.Hour),
			Guardians:   []protocol.Guardian{{Signing: doc.Key, Receiving: doc.Key, Share: []byte("sealed share")}},
			Commitments: []protocol.PubKey{proxy.Key}}),
		"recovery_start":   doc.Next(&protocol.RecoveryStart{Owner: owner.Key, DeviceEnc: doc.Key}),
		"recovery_approve": doc.Next(&protocol.RecoveryApprove{Process: protocol.Hash32{7}, Share: []byte("sealed share")}),
		"recovery_cancel":  owner.Next(&protocol.RecoveryCancel{Process: protocol.Hash32{7}}),
		"recovery_finish":  doc.Next(&protocol.RecoveryFinish{Process: protocol.Hash32{7}}),
		"delegate": owner.Next(&protocol.Delegate{Caregiver: doc.Key, CaregiverEnc: doc.Key,
			Rights: protocol.RightGrant | protocol.RightRevoke | protocol.RightRead, NotBefore: 1_700_000_000_000_000_000, NotAfter: 1_800_000_000_000_000_000}),
		"end_delegation": doc.Next(&protocol.EndDelegation{Delegation: protocol.DelegationID(testChain, owner.Key, 0)}),
		"register_service": proxy.Next(&protocol.RegisterService{Name: "City ED", Org: owner.Key, OrgEnc: owner.Key,
			Clinicians: []protocol.Clinician{{Key: doc.Key, Name: "Dr A"}, {Key: proxy.Key, Name: "Dr B"}}}),
		"emergency_request": doc.Emergency(gid, "unconscious on arrival", proxy),
		"open_inbox":        doc.Next(&protocol.OpenInbox{FirstSlot: 0, Keys: []protocol.PubKey{proxy.Key, owner.Key}}),
		"issue": owner.Next(&protocol.Issue{Subject: doc.Key, Slot: 1, CID: []byte("bafkreiissued"), Size: 9,
			Capsule: protocoltest.PutRecord("bafkreiissued", 9).Capsule}),
		"accept_issued": doc.Next(&protocol.AcceptIssued{Record: rec}),
		"rotate":        owner.Rotate(doc),
	}
	// Made after the others, so that their randomness, and so their bytes, stay as they were.
	capsule, _ := protocoltest.Capsule()
	stream := protocol.StreamID(testChain, owner.Key, owner.Seq)
	seeds["stream_create"] = owner.Next(&protocol.StreamCreate{Epoch: 600, Label: protocol.Hash32{1}, DelegatingKey: owner.Key})
	seeds["stream_append"] = owner.Next(&protocol.StreamAppend{Stream: stream, Epoch: 2_833_334, Capsule: capsule, CID: []byte("bafkreichunk"),
		Size: 4096, First: 1_700_000_400_000_000_000, Last: 1_700_000_401_000_000_000, Count: 2})
	seeds["stream_grant"] = owner.Next(&protocol.StreamGrant{Grant: *g, From: 1_700_000_400_000_000_000})
	seeds["stream_erase"] = owner.Next(&protocol.StreamErase{Stream: stream})
	seeds["stream_rekey"] = owner.Next(&protocol.StreamRekey{Stream: stream, Generation: 1, DelegatingKey: owner.Key, FirstEpoch: 2_833_335})
	for _, target := range []string{"FuzzDecodeTx", "FuzzParseTx"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, raw := range seeds {
			tx, err := protocol.DecodeTx(raw)
			if err != nil || !tx.VerifySig() {
				t.Fatalf("seed %s does not decode and verify: %v", name, err)
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
