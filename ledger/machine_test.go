package ledger

import (
	"errors"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// These tests run the pure state transition against an in-memory store:
// no network, no disk.

const testChain = "rr-test"

type account struct {
	sk     *umbral.SecretKey
	signer *umbral.Signer
	pk     PubKey
	seq    uint64
}

func newAccount(t testing.TB) *account {
	t.Helper()
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	s := umbral.NewSigner(sk)
	return &account{sk: sk, signer: s, pk: PubKeyOf(s.VerifyingKey())}
}

// tx signs body as the account's next transaction; the caller decides
// whether the sequence advances (it does when the tx is expected to commit).
func (a *account) tx(t testing.TB, chain string, body Body) []byte {
	t.Helper()
	tx := &Tx{ChainID: chain, Sequence: a.seq, Body: body}
	if err := tx.Sign(a.signer); err != nil {
		t.Fatal(err)
	}
	return tx.Encode()
}

func testCapsule(t testing.TB) (c [CapsuleSize]byte, delegating PubKey) {
	t.Helper()
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	capsule, _, err := umbral.Encrypt(sk.PublicKey(), []byte("file key"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := capsule.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	copy(c[:], b)
	return c, PubKeyOf(sk.PublicKey())
}

type machine struct {
	t     *testing.T
	store *memStore
	nodes []PubKey
	bc    BlockContext
}

func newMachine(t *testing.T) *machine {
	m := &machine{t: t, store: newMemStore(), bc: BlockContext{ChainID: testChain, Height: 1, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}}
	var infos []NodeInfo
	for i := 0; i < 4; i++ {
		a := newAccount(t)
		m.nodes = append(m.nodes, a.pk)
		infos = append(infos, NodeInfo{Name: "n", ProxyKey: a.pk})
	}
	o := newOverlay(m.store)
	if err := initState(o, infos, 0); err != nil {
		t.Fatal(err)
	}
	m.store.apply(o.sortedWrites())
	reg, err := loadRegistry(m.store)
	if err != nil || len(reg) != 4 {
		t.Fatalf("registry: %v, %v", reg, err)
	}
	m.bc.Nodes = reg
	return m
}

// block applies txs as one block at the next height and time step, and
// returns each tx's error and the block's expiries.
func (m *machine) block(step time.Duration, txs ...[]byte) ([]error, []Expiry) {
	m.bc.Height++
	m.bc.Time += int64(step)
	o := newOverlay(m.store)
	exp, err := expireDue(o, m.bc)
	if err != nil {
		m.t.Fatal(err)
	}
	errs := make([]error, len(txs))
	for i, raw := range txs {
		_, errs[i] = applyTx(o, m.bc, raw, false)
	}
	m.store.apply(o.sortedWrites())
	return errs, exp
}

func (m *machine) ok(a *account, body Body) {
	m.t.Helper()
	errs, _ := m.block(time.Second, a.tx(m.t, testChain, body))
	if errs[0] != nil {
		m.t.Fatalf("%s: %v", body.Type(), errs[0])
	}
	a.seq++
}

func (m *machine) fails(want error, raw []byte) {
	m.t.Helper()
	errs, _ := m.block(time.Second, raw)
	if !errors.Is(errs[0], want) {
		m.t.Fatalf("got %v, want %v", errs[0], want)
	}
}

func (m *machine) grantBody(rec ID, to *account, notAfter int64) *Grant {
	g := &Grant{Record: rec, RecipientSig: to.pk, RecipientEnc: to.pk, NotAfter: notAfter, Purpose: "care"}
	for _, n := range m.nodes {
		g.Nodes = append(g.Nodes, GrantNode{Proxy: n, Commitment: [32]byte{1}})
	}
	return g
}

func (m *machine) put(owner *account) ID {
	c, dk := testCapsule(m.t)
	id := RecordID(testChain, owner.pk, owner.seq)
	m.ok(owner, &PutRecord{CID: []byte("bafy-test"), Size: 10, Capsule: c, DelegatingKey: dk})
	return id
}

func TestMachineFlow(t *testing.T) {
	m := newMachine(t)
	owner, doc, stranger := newAccount(t), newAccount(t), newAccount(t)
	rec := m.put(owner)

	gid := GrantID(testChain, owner.pk, owner.seq)
	m.ok(owner, m.grantBody(rec, doc, 0))
	g, err := loadGrant(m.store, gid)
	if err != nil || g.Threshold != 3 || len(g.Nodes) != 4 {
		t.Fatalf("grant %+v, %v", g, err)
	}
	m.ok(doc, &RequestAccess{Grant: gid, Purpose: "consult"})

	// Authorisation failures.
	m.fails(ErrUnauthorized, stranger.tx(t, testChain, m.grantBody(rec, stranger, 0)))
	m.fails(ErrUnauthorized, stranger.tx(t, testChain, &Revoke{Grant: gid}))
	m.fails(ErrUnauthorized, owner.tx(t, testChain, &RequestAccess{Grant: gid}))
	m.fails(ErrWrongChain, doc.tx(t, "other-chain", &RequestAccess{Grant: gid}))
	replay := doc.tx(t, testChain, &RequestAccess{Grant: gid})
	doc.seq++
	if errs, _ := m.block(time.Second, replay); errs[0] != nil {
		t.Fatal(errs[0])
	}
	m.fails(ErrBadSequence, replay)
	bad := doc.tx(t, testChain, &RequestAccess{Grant: gid})
	bad[len(bad)-1] ^= 1
	m.fails(ErrBadSignature, bad)
	m.fails(ErrNotFound, owner.tx(t, testChain, &Revoke{Grant: ID{9}}))

	m.ok(owner, &Revoke{Grant: gid})
	m.fails(ErrGrantRevoked, doc.tx(t, testChain, &RequestAccess{Grant: gid}))
	m.fails(ErrGrantRevoked, owner.tx(t, testChain, &Revoke{Grant: gid}))

	log, err := (&Snapshot{st: m.store}).Audit(rec, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range log.Items {
		kinds = append(kinds, e.Kind)
	}
	want := []string{AuditPut, AuditGrant, AuditRequest, AuditRequest, AuditRevoke}
	if len(kinds) != len(want) {
		t.Fatalf("audit kinds %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("audit kinds %v, want %v", kinds, want)
		}
	}
}

func TestMachineExpiry(t *testing.T) {
	m := newMachine(t)
	owner, doc := newAccount(t), newAccount(t)
	rec := m.put(owner)
	notBefore := m.bc.Time + int64(5*time.Second)
	gid := GrantID(testChain, owner.pk, owner.seq)
	body := m.grantBody(rec, doc, m.bc.Time+int64(10*time.Second))
	body.NotBefore = notBefore
	m.ok(owner, body) // time +1s
	m.fails(ErrNotYetValid, doc.tx(t, testChain, &RequestAccess{Grant: gid}))
	if errs, _ := m.block(3*time.Second, doc.tx(t, testChain, &RequestAccess{Grant: gid})); errs[0] != nil {
		t.Fatal(errs[0]) // +5s: inside the window
	}
	doc.seq++
	_, exp := m.block(10 * time.Second)
	if len(exp) != 1 || exp[0].Grant != gid {
		t.Fatalf("expiries %v", exp)
	}
	m.fails(ErrGrantExpired, doc.tx(t, testChain, &RequestAccess{Grant: gid}))
	if _, exp := m.block(time.Second); len(exp) != 0 {
		t.Fatalf("grant expired twice: %v", exp)
	}
	// A grant whose window is already over is refused.
	m.fails(ErrGrantExpired, owner.tx(t, testChain, m.grantBody(rec, doc, m.bc.Time)))
}

func TestMachineRejectsBadGrants(t *testing.T) {
	m := newMachine(t)
	owner, doc := newAccount(t), newAccount(t)
	rec := m.put(owner)
	g := m.grantBody(rec, doc, 0)
	g.Nodes[0].Proxy = doc.pk
	m.fails(ErrUnknownNode, owner.tx(t, testChain, g))
	g = m.grantBody(rec, doc, 0)
	g.Threshold = 5
	m.fails(ErrInvalidTx, owner.tx(t, testChain, g))
	g = m.grantBody(rec, doc, 0)
	g.Nodes[1] = g.Nodes[0]
	m.fails(ErrInvalidTx, owner.tx(t, testChain, g))
	m.fails(ErrNotFound, owner.tx(t, testChain, m.grantBody(ID{7}, doc, 0)))
}

func TestDefaultThreshold(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 1, 3: 1, 4: 3, 5: 3, 7: 5, 10: 7} {
		if got := DefaultThreshold(n); got != want {
			t.Errorf("DefaultThreshold(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestAppHashDeterministic(t *testing.T) {
	ws := []write{{key: []byte("a"), value: []byte("1")}, {key: []byte("b")}}
	h1 := nextAppHash(nil, 1, ws)
	if string(nextAppHash(nil, 1, ws)) != string(h1) {
		t.Fatal("app hash not deterministic")
	}
	if string(nextAppHash(h1, 2, nil)) != string(h1) {
		t.Fatal("empty block changed the app hash")
	}
	ws[1].value = []byte{}
	if string(nextAppHash(nil, 1, ws)) == string(h1) {
		t.Fatal("delete and empty put hash the same")
	}
}
