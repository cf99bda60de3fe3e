package e2e

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/recovery"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// recoveryDelay is the setup's waiting period: long enough for the owner to cancel within it
// on a busy machine, short enough to wait out once.
const recoveryDelay = 15 * time.Second

// TestRecoveryByGuardians runs recovery by guardians on a real 4-node network: two of three
// guardians restore the owner's identity on a new device, which then opens the owner's
// records; one guardian cannot, nor can two without the ledger process; and the owner sees a
// hostile recovery and cancels it within the waiting period.
func TestRecoveryByGuardians(t *testing.T) {
	w := startWorld(t)
	ctx := w.ctx
	ownerID := newIdentity(t)
	owner := w.session(ownerID)
	data := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{16}).Read(data)
	rec, err := owner.Put(ctx, bytes.NewReader(data), int64(len(data)), envelope.Metadata{Name: "labs.pdf"})
	if err != nil {
		t.Fatal(err)
	}
	guardianIDs := []*identity.Identity{newIdentity(t), newIdentity(t), newIdentity(t)}
	var guardians []*client.Session
	var publics []identity.Public
	for _, id := range guardianIDs {
		guardians = append(guardians, w.session(id))
		publics = append(publics, id.Public())
	}
	began := time.Now()
	set, err := owner.SetupRecovery(ctx, publics, client.RecoveryOptions{Threshold: 2, Delay: recoveryDelay})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	took := map[string]time.Duration{"setup (seal, put, commit, deposit)": time.Since(began)}
	if set.Accepted != w.nw.Size() {
		t.Fatalf("setup: %d of %d nodes took the recovery grant's fragment", set.Accepted, w.nw.Size())
	}

	w.guardiansAloneGetNothing(owner, guardianIDs, guardians[:2], set)

	// A new device — a fresh identity — starts; one guardian's approval is not enough.
	deviceID := newIdentity(t)
	device := w.session(deviceID)
	began = time.Now()
	p, err := device.StartRecovery(ctx, protocol.PubKeyOf(ownerID.Public().Signing))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	took["start (enrol, commit)"] = time.Since(began)
	ownerKey := protocol.PubKeyOf(ownerID.Public().Signing)
	began = time.Now()
	if err := guardians[0].ApproveRecovery(ctx, ownerKey, p); err != nil {
		t.Fatalf("approve 1: %v", err)
	}
	took["approve (enrol, reads, commit)"] = time.Since(began)
	if _, err := device.FinishRecovery(ctx, p); !errors.Is(err, recovery.ErrTooFewShares) {
		t.Fatalf("finish with one share: %v, want too few shares", err)
	}
	if _, err := device.Submit(ctx, &protocol.RecoveryFinish{Process: p}); !errors.Is(err, protocol.ErrNotYetValid) {
		t.Fatalf("the ledger took a finish with one approval: %v", err)
	}
	if err := guardians[1].ApproveRecovery(ctx, ownerKey, p); err != nil {
		t.Fatalf("approve 2: %v", err)
	}
	if _, err := device.FinishRecovery(ctx, p); !errors.Is(err, client.ErrNotYetValid) {
		t.Fatalf("finish inside the waiting period: %v, want not yet valid", err)
	}
	wctx, cancel := context.WithTimeout(ctx, recoveryDelay+time.Minute)
	defer cancel()
	if _, err := device.WaitRecoveryReady(wctx, p); err != nil {
		t.Fatalf("waiting: %v", err)
	}
	began = time.Now()
	restored, err := device.FinishRecovery(ctx, p)
	if err != nil {
		t.Fatalf("finish: %v", err)
	}
	took["finish (reads, commit, gather, fetch, open)"] = time.Since(began)
	for step, d := range took {
		t.Logf("%s: %s", step, d.Round(time.Millisecond))
	}
	if !restored.Public().Equal(ownerID.Public()) {
		t.Fatal("the restored identity is another identity")
	}
	// The restored identity is the owner: it opens the owner's records with its own key.
	var out bytes.Buffer
	if _, err := w.session(restored).Get(ctx, rec, &out, client.GetOptions{}); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("the restored identity does not open the owner's record: %v", err)
	}
	st, err := owner.RecoveryStatus(ctx, ownerKey)
	if err != nil || len(st.Processes) != 1 || client.PhaseOf(st.Setup, st.Processes[0], st.Time) != client.Finished {
		t.Fatalf("status after the recovery: %+v, %v", st, err)
	}
	log, err := owner.Audit(ctx, set.Record)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range log {
		if e.Kind != protocol.AuditHolds {
			kinds = append(kinds, e.Kind)
		}
	}
	if !slices.Equal(kinds, []string{protocol.AuditPut, protocol.AuditRecoverySetup, protocol.AuditRecoveryStart, protocol.AuditRecoveryApprove,
		protocol.AuditRecoveryApprove, protocol.AuditRecoveryFinish}) {
		t.Fatalf("the sealed identity's audit log: %v", kinds)
	}

	w.hostileRecoveryCancelled(owner, ownerKey, guardians)
}

// guardiansAloneGetNothing: two guardians pool their shares and hold the recovery key, but
// without a completed process no node re-encrypts for them and the ledger refuses their
// request.
func (w *world) guardiansAloneGetNothing(owner *client.Session, ids []*identity.Identity, guardians []*client.Session, set *client.RecoverySetupResult) {
	t, ctx := w.t, w.ctx
	t.Helper()
	setup, err := guardians[0].RecoverySetup(ctx, protocol.PubKeyOf(owner.Identity().Signing))
	if err != nil {
		t.Fatal(err)
	}
	var shares []recovery.Share
	for i := range guardians {
		s, err := recovery.Open(ids[i].ReceivingKey(), recovery.ToGuardian, setup.Grant, uint8(i+1), setup.Guardians[i].Share)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, s)
	}
	q, err := recovery.Combine(setup.Commitments, shares)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := guardians[0].Submit(ctx, &protocol.RequestAccess{Grant: set.Grant, Purpose: "shortcut"}); !errors.Is(err, protocol.ErrUnauthorized) {
		t.Fatalf("a request under the recovery grant: %v, want unauthorized", err)
	}
	g, err := owner.GrantState(ctx, set.Grant)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := owner.Record(ctx, set.Record)
	if err != nil {
		t.Fatal(err)
	}
	// Name the setup's own transaction, the nearest thing to an authorisation they have.
	_, err = (&client.API{}).Gather(ctx, &client.Access{ChainID: w.net.ChainID, Grant: g, Record: rec, RequestTx: setup.TxHash},
		umbral.NewSigner(q), w.net.Nodes)
	var ge *client.GatherError
	if !errors.As(err, &ge) || ge.Count(client.Refused) != w.nw.Size() {
		t.Fatalf("k guardians without the process: %v, want every node to refuse", err)
	}
	for _, r := range ge.Nodes {
		if !errors.Is(r.Err, protocol.ErrRequestNotCommitted) {
			t.Fatalf("node %s: %v", r.Node, r.Err)
		}
	}
}

// hostileRecoveryCancelled: a stranger's device starts a recovery and two guardians are
// talked into approving it; the owner sees it waiting and cancels within the waiting period,
// and the stranger can never finish.
func (w *world) hostileRecoveryCancelled(owner *client.Session, ownerKey protocol.PubKey, guardians []*client.Session) {
	t, ctx := w.t, w.ctx
	t.Helper()
	mallory := w.session(newIdentity(t))
	p, err := mallory.StartRecovery(ctx, ownerKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range guardians[1:] {
		if err := g.ApproveRecovery(ctx, ownerKey, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mallory.FinishRecovery(ctx, p); !errors.Is(err, client.ErrNotYetValid) {
		t.Fatalf("hostile finish inside the waiting period: %v", err)
	}
	st, err := owner.RecoveryStatus(ctx, ownerKey)
	if err != nil {
		t.Fatal(err)
	}
	var seen *protocol.RecoveryProcess
	for _, proc := range st.Processes {
		if proc.ID == p {
			seen = proc
		}
	}
	if seen == nil || client.PhaseOf(st.Setup, seen, st.Time) != client.Waiting || len(seen.Approvals) != 2 {
		t.Fatalf("the owner does not see the hostile process waiting: %+v", seen)
	}
	if err := owner.CancelRecovery(ctx, p); err != nil {
		t.Fatal(err)
	}
	proc, err := owner.RecoveryProcess(ctx, p)
	if err != nil || proc.Status != protocol.ProcessCancelled || proc.EndedTime >= proc.Ready {
		t.Fatalf("cancelled %+v, %v: want it cancelled before the waiting period ended", proc, err)
	}
	if _, err := mallory.WaitRecoveryReady(ctx, p); !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("waiting on a cancelled process: %v", err)
	}
	if _, err := mallory.FinishRecovery(ctx, p); !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("finishing a cancelled process: %v", err)
	}
}
