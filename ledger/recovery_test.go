package ledger

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

const testDelay = time.Hour

// recoveryWorld is an owner with a sealed-identity record, three guardians, and the account
// whose key stands for the recovery key (so that a holder of q can be shown trying).
type recoveryWorld struct {
	*machine
	owner     *protocoltest.Account
	guardians []*protocoltest.Account
	holderOfQ *protocoltest.Account
	rec       protocol.ID
}

func newRecoveryWorld(t *testing.T) *recoveryWorld {
	m := newMachine(t, 0)
	w := &recoveryWorld{machine: m, owner: m.account(), holderOfQ: m.account()}
	w.guardians = []*protocoltest.Account{m.account(), m.account(), m.account()}
	w.rec = m.put(w.owner)
	return w
}

// setupBody is a setup of 2 of the three guardians over every node, with made-up shares.
func (w *recoveryWorld) setupBody() *protocol.RecoverySetup {
	b := &protocol.RecoverySetup{Record: w.rec, OwnerEnc: w.owner.Key, Delay: int64(testDelay),
		Commitments: []protocol.PubKey{w.holderOfQ.Key, w.guardians[0].Key}}
	for i, n := range w.nodeKeys() {
		b.Nodes = append(b.Nodes, protocol.GrantNode{Proxy: n, Commitment: protocol.Hash32{byte(i + 1)}})
	}
	for _, g := range w.guardians {
		b.Guardians = append(b.Guardians, protocol.Guardian{Signing: g.Key, Receiving: g.Key, Share: []byte("sealed to " + g.Key.String()[:8])})
	}
	return b
}

// setup commits a setup and returns its recovery grant.
func (w *recoveryWorld) setup() protocol.ID {
	w.t.Helper()
	id := w.owner.GrantID()
	w.ok(w.owner, w.setupBody())
	return id
}

// start commits a RecoveryStart by device and returns the process id.
func (w *recoveryWorld) start(device *protocoltest.Account) protocol.Hash32 {
	w.t.Helper()
	raw := device.Sign(&protocol.RecoveryStart{Owner: w.owner.Key, DeviceEnc: device.Key})
	if errs, _ := w.block(time.Second, raw); errs[0] != nil {
		w.t.Fatalf("start: %v", errs[0])
	}
	device.Seq++
	return protocol.TxHash(raw)
}

func (w *recoveryWorld) approve(g *protocoltest.Account, p protocol.Hash32) *protocol.RecoveryApprove {
	return &protocol.RecoveryApprove{Process: p, Share: []byte("sealed to the device by " + g.Key.String()[:8])}
}

func (w *recoveryWorld) process(id protocol.Hash32) *protocol.RecoveryProcess {
	w.t.Helper()
	p, err := w.snapshot().RecoveryProcess(id)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// TestRecoverySetupRules: who may set up recovery on which record, what the setup writes,
// and that a recovery grant serves no access request, even one signed with the recovery key.
func TestRecoverySetupRules(t *testing.T) {
	w := newRecoveryWorld(t)
	stranger := w.account()
	body := func(edit func(*protocol.RecoverySetup)) *protocol.RecoverySetup {
		b := w.setupBody()
		edit(b)
		return b
	}
	w.spends(protocol.ErrNotFound, w.owner, body(func(b *protocol.RecoverySetup) { b.Record = protocol.ID{7} }))
	w.spends(protocol.ErrUnauthorized, stranger, body(func(*protocol.RecoverySetup) {}))
	w.spends(protocol.ErrUnknownNode, w.owner, body(func(b *protocol.RecoverySetup) { b.Nodes[0].Proxy = stranger.Key }))
	w.spends(protocol.ErrInvalid, w.owner, body(func(b *protocol.RecoverySetup) { b.Threshold = 1 })) // f = 1 could re-encrypt alone
	w.spends(protocol.ErrInvalid, w.owner, body(func(b *protocol.RecoverySetup) { b.Guardians[1].Signing = w.owner.Key }))

	grant := w.setup()
	s := w.snapshot()
	setup, err := s.RecoverySetup(w.owner.Key)
	if err != nil || setup.Grant != grant || setup.Record != w.rec || setup.Threshold() != 2 || len(setup.Guardians) != 3 ||
		setup.Delay != int64(testDelay) || setup.Height != w.height {
		t.Fatalf("setup %+v, %v", setup, err)
	}
	g, err := s.Grant(grant)
	if err != nil || g.RecipientEnc != w.holderOfQ.Key || g.RecipientSig != w.holderOfQ.Key || g.Threshold != 3 ||
		g.Purpose != "recovery" || g.NotAfter != 0 || g.Owner != w.owner.Key {
		t.Fatalf("recovery grant %+v, %v", g, err)
	}
	if rg, err := s.IsRecoveryGrant(grant); err != nil || !rg {
		t.Fatalf("not marked a recovery grant: %v", err)
	}
	if page, err := s.GrantsOf(w.rec, 0, 0); err != nil || len(page.Items) != 1 || page.Items[0].ID != grant {
		t.Fatalf("the record's grants: %+v, %v", page, err)
	}
	if acc, err := s.Account(w.owner.Key); err != nil || acc.Usage.Grants != 1 {
		t.Fatalf("usage %+v, %v", acc, err)
	}
	if k := auditKinds(t, s, w.rec); !slices.Equal(k, []string{protocol.AuditPut, protocol.AuditRecoverySetup}) {
		t.Fatalf("audit %v", k)
	}
	// The recovery key's holder (k guardians pooling their shares) may not request access.
	w.spends(protocol.ErrUnauthorized, w.holderOfQ, &protocol.RequestAccess{Grant: grant})
	if _, err := s.RecoverySetup(stranger.Key); !errors.Is(err, protocol.ErrNotFound) {
		t.Fatalf("a stranger's setup: %v", err)
	}

	// A new setup replaces the old one: its grant is revoked (the proxies delete the
	// fragments), the allowance keeps one recovery grant, and the old setup's processes die.
	device := w.account()
	old := w.start(device)
	next := w.owner.GrantID()
	x := w.ok(w.owner, w.setupBody())
	if !slices.Equal(x.Commit.Revoked, []protocol.ID{grant}) {
		t.Fatalf("commit revoked %v, want the old recovery grant", x.Commit.Revoked)
	}
	s = w.snapshot()
	if g, _ := s.Grant(grant); !g.Revoked {
		t.Fatal("the replaced setup's grant is live")
	}
	if st, _ := s.RecoverySetup(w.owner.Key); st.Grant != next {
		t.Fatal("the setup was not replaced")
	}
	if acc, _ := s.Account(w.owner.Key); acc.Usage.Grants != 1 {
		t.Fatalf("usage after replacement: %+v", acc.Usage)
	}
	if owed, _ := s.OwedReports(w.nodes[0].Key, 0); !slices.Contains(owed, grant) {
		t.Fatal("the replaced grant's nodes owe no report")
	}
	w.spends(protocol.ErrGrantRevoked, w.guardians[0], w.approve(w.guardians[0], old))
	w.spends(protocol.ErrGrantRevoked, device, &protocol.RecoveryFinish{Process: old})

	// Revoking the recovery grant, or erasing the record, turns recovery off.
	w.ok(w.owner, &protocol.Revoke{Grant: next})
	w.spends(protocol.ErrGrantRevoked, device, &protocol.RecoveryStart{Owner: w.owner.Key, DeviceEnc: device.Key})
	w.ok(w.owner, &protocol.EraseRecord{Record: w.rec})
	w.spends(protocol.ErrRecordErased, w.owner, w.setupBody())
}

// TestRecoveryProcessRules: start, approvals, the waiting period, finish and the request it
// stands for, in order, with every refusal on the way.
func TestRecoveryProcessRules(t *testing.T) {
	w := newRecoveryWorld(t)
	device, stranger := w.account(), w.account()
	g0, g1, g2 := w.guardians[0], w.guardians[1], w.guardians[2]
	w.spends(protocol.ErrNotFound, device, &protocol.RecoveryStart{Owner: w.owner.Key, DeviceEnc: device.Key})
	grant := w.setup()
	w.spends(protocol.ErrInvalid, w.owner, &protocol.RecoveryStart{Owner: w.owner.Key, DeviceEnc: w.owner.Key})

	p := w.start(device)
	proc := w.process(p)
	if proc.Status != protocol.ProcessOpen || proc.Device != device.Key || proc.Grant != grant || proc.Owner != w.owner.Key ||
		proc.Lapses != w.time+int64(protocol.RecoveryLapse) || proc.Ready != 0 || len(proc.Approvals) != 0 {
		t.Fatalf("started %+v", proc)
	}
	w.spends(protocol.ErrNotFound, g0, w.approve(g0, protocol.Hash32{1}))
	w.spends(protocol.ErrUnauthorized, stranger, w.approve(stranger, p))
	w.spends(protocol.ErrUnauthorized, w.owner, w.approve(w.owner, p))
	w.ok(g1, w.approve(g1, p))
	w.spends(protocol.ErrAlreadyExists, g1, w.approve(g1, p))
	w.spends(protocol.ErrNotYetValid, device, &protocol.RecoveryFinish{Process: p}) // 1 of 2
	w.spends(protocol.ErrUnauthorized, stranger, &protocol.RecoveryFinish{Process: p})

	w.ok(g0, w.approve(g0, p))
	ready := w.time + int64(testDelay)
	if proc = w.process(p); proc.Ready != ready || len(proc.Approvals) != 2 || proc.Approvals[0].Guardian != 1 ||
		proc.Approvals[1].Guardian != 0 || string(proc.Approvals[1].Share) != string(w.approve(g0, p).Share) {
		t.Fatalf("approved %+v", proc)
	}
	w.spends(protocol.ErrNotYetValid, device, &protocol.RecoveryFinish{Process: p}) // waiting
	w.ok(g2, w.approve(g2, p))                                                      // a spare share, the ready time stays
	if w.process(p).Ready != ready {
		t.Fatal("a third approval moved the end of the waiting period")
	}

	// The waiting period counts from the approval that made enough, in block time.
	w.block(time.Duration(ready-w.time) - 2*time.Second)
	w.spends(protocol.ErrNotYetValid, device, &protocol.RecoveryFinish{Process: p}) // in the block a second before ready
	if w.time != ready-int64(time.Second) {
		t.Fatalf("block time %d, ready %d", w.time, ready)
	}
	raw := device.Sign(&protocol.RecoveryFinish{Process: p})
	w.spendsRawOK(device, raw) // in the block at ready
	finishedAt := w.height
	s := w.snapshot()
	if proc = w.process(p); proc.Status != protocol.ProcessFinished || proc.EndedHeight != finishedAt {
		t.Fatalf("finished %+v", proc)
	}
	// The finish is indexed as a request is: what the nodes look for before re-encrypting.
	ref, err := s.Request(protocol.TxHash(raw))
	if err != nil || ref.Record != w.rec || ref.Entry.Kind != protocol.AuditRecoveryFinish || *ref.Entry.Actor != device.Key ||
		*ref.Entry.Grant != grant {
		t.Fatalf("request index: %+v, %v", ref, err)
	}
	// The device may finish again (a read that failed); the first finish stays the ending.
	w.ok(device, &protocol.RecoveryFinish{Process: p})
	if w.process(p).EndedHeight != finishedAt {
		t.Fatal("a second finish moved the ending")
	}
	w.spends(protocol.ErrAlreadyExists, w.owner, &protocol.RecoveryCancel{Process: p}) // too late
	w.spends(protocol.ErrAlreadyExists, g2, w.approve(g2, protocol.Hash32(p)))
	if k := auditKinds(t, w.snapshot(), w.rec); !slices.Equal(k, []string{protocol.AuditPut, protocol.AuditRecoverySetup,
		protocol.AuditRecoveryStart, protocol.AuditRecoveryApprove, protocol.AuditRecoveryApprove, protocol.AuditRecoveryApprove,
		protocol.AuditRecoveryFinish, protocol.AuditRecoveryFinish}) {
		t.Fatalf("audit %v", k)
	}
}

// spendsRawOK commits raw, signed by a at a.Seq, and wants it to succeed.
func (w *recoveryWorld) spendsRawOK(a *protocoltest.Account, raw []byte) {
	w.t.Helper()
	if errs, _ := w.block(time.Second, raw); errs[0] != nil {
		w.t.Fatalf("%v", errs[0])
	}
	a.Seq++
}

// TestRecoveryCancelAndLapse: the owner's cancel ends a process for good; a process lapses
// without approvals in time, or unfinished after its waiting period.
func TestRecoveryCancelAndLapse(t *testing.T) {
	w := newRecoveryWorld(t)
	w.setup()
	hostile, slow, idle := w.account(), w.account(), w.account()
	g0, g1 := w.guardians[0], w.guardians[1]

	p := w.start(hostile)
	w.ok(g0, w.approve(g0, p))
	w.ok(g1, w.approve(g1, p))
	w.spends(protocol.ErrUnauthorized, hostile, &protocol.RecoveryCancel{Process: p})
	w.spends(protocol.ErrUnauthorized, g0, &protocol.RecoveryCancel{Process: p})
	w.ok(w.owner, &protocol.RecoveryCancel{Process: p})
	if proc := w.process(p); proc.Status != protocol.ProcessCancelled || proc.EndedHeight != w.height || proc.EndedTime >= proc.Ready {
		t.Fatalf("cancelled %+v", proc)
	}
	w.spends(protocol.ErrGrantRevoked, w.owner, &protocol.RecoveryCancel{Process: p})
	w.block(testDelay)
	w.spends(protocol.ErrGrantRevoked, hostile, &protocol.RecoveryFinish{Process: p})
	w.spends(protocol.ErrGrantRevoked, w.guardians[2], w.approve(w.guardians[2], p))

	// Several processes may be open at once: the hostile one does not block another.
	q := w.start(slow)
	r := w.start(idle)
	w.ok(g0, w.approve(g0, r))
	w.ok(g1, w.approve(g1, r))
	w.block(protocol.RecoveryLapse + testDelay)
	w.spends(protocol.ErrGrantExpired, g0, w.approve(g0, q))
	w.spends(protocol.ErrGrantExpired, idle, &protocol.RecoveryFinish{Process: r})

	page, err := w.snapshot().RecoveryProcesses(w.owner.Key, 0, 0)
	if err != nil || len(page.Items) != 3 || page.Items[0].ID != p || page.Items[2].ID != r || page.Next != -1 {
		t.Fatalf("processes %+v, %v", page, err)
	}
}

// TestRecoveryQueries: the three query paths answer the state values, and refuse as the other
// paths do.
func TestRecoveryQueries(t *testing.T) {
	w := newRecoveryWorld(t)
	grant := w.setup()
	p := w.start(w.account())
	s := w.snapshot()
	for path, check := range map[string]func(any) bool{
		"/recovery/setup/" + w.owner.Key.String(): func(v any) bool { return v.(*protocol.RecoverySetupState).Grant == grant },
		"/recovery/process/" + p.String():         func(v any) bool { return v.(*protocol.RecoveryProcess).ID == p },
		"/recovery/processes/" + w.owner.Key.String() + "?limit=1": func(v any) bool {
			pg := v.(*protocol.Page[*protocol.RecoveryProcess])
			return len(pg.Items) == 1 && pg.Items[0].ID == p
		},
	} {
		v, err := s.Query(path)
		if err != nil || !check(v) {
			t.Fatalf("%s: %+v, %v", path, v, err)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	for path, want := range map[string]error{
		"/recovery/setup/" + w.guardians[0].Key.String():   protocol.ErrNotFound,
		"/recovery/process/" + protocol.Hash32{1}.String(): protocol.ErrNotFound,
		"/recovery/setup/zz":                               protocol.ErrMalformed,
		"/recovery/process/00":                             protocol.ErrMalformed,
		"/recovery/other/" + p.String():                    protocol.ErrUnknownQuery,
	} {
		if _, err := s.Query(path); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", path, err, want)
		}
	}
}
