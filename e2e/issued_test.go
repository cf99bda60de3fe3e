package e2e

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/issued"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestIssuedRecord runs an issued record on a real 4-node network: a platform issues a
// driver's work summary into the driver's inbox; the platform cannot read or grant it; the
// driver cannot grant it before accepting it; once accepted, a new platform the driver
// grants reads it and verifies the issuer; an altered copy fails to verify.
func TestIssuedRecord(t *testing.T) {
	w := startWorld(t)
	ctx := w.ctx
	platformID, driverID, nextID := newIdentity(t), newIdentity(t), newIdentity(t)
	platform, driver, next := w.session(platformID), w.session(driverID), w.session(nextID)
	summary := []byte(`{"driver":"D-1042","month":"2026-01","deliveries":412,"hours":161.5}`)

	if _, err := platform.Issue(ctx, driverID.Public(), "summary.json", "application/json", summary); !errors.Is(err, client.ErrInboxClosed) {
		t.Fatalf("issue into a closed inbox: %v", err)
	}
	in, err := driver.OpenInbox(ctx, 4, nil)
	if err != nil || in.Next != 4 || len(in.Slots) != 4 {
		t.Fatalf("open inbox: %+v, %v", in, err)
	}
	began := time.Now()
	rec, err := platform.Issue(ctx, driverID.Public(), "summary.json", "application/json", summary)
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	t.Logf("issue (sign, seal, upload, commit): %s", time.Since(began).Round(time.Millisecond))

	pending, err := driver.Inbox(ctx)
	if err != nil || len(pending) != 1 || pending[0].ID != rec || pending[0].Issued == nil ||
		pending[0].Issued.Issuer != protocol.PubKeyOf(platformID.Public().Signing) || pending[0].Owner != protocol.PubKeyOf(driverID.Public().Signing) {
		t.Fatalf("inbox: %+v, %v", pending, err)
	}

	// The issuer kept nothing that opens it, and owns nothing it could grant.
	var sink bytes.Buffer
	if _, err := platform.Get(ctx, rec, &sink, client.GetOptions{Purpose: "peek"}); err == nil || sink.Len() != 0 {
		t.Fatalf("the issuer read the subject's record: %v", err)
	}
	if _, err := platform.Grant(ctx, rec, nextID.Public(), client.GrantOptions{Duration: time.Hour}); err == nil {
		t.Fatal("the issuer granted the subject's record")
	}
	if err := platform.Accept(ctx, rec); !errors.Is(err, protocol.ErrUnauthorized) {
		t.Fatalf("the issuer accepted for the subject: %v", err)
	}
	// The subject cannot share what it has not accepted.
	if _, err := driver.Grant(ctx, rec, nextID.Public(), client.GrantOptions{Duration: time.Hour}); !errors.Is(err, protocol.ErrNotAccepted) {
		t.Fatalf("grant before accept: %v", err)
	}
	// The subject reads it with its slot key, and it verifies.
	var doc bytes.Buffer
	if _, err := driver.Get(ctx, rec, &doc, client.GetOptions{}); err != nil {
		t.Fatalf("the subject's get: %v", err)
	}
	if err := driver.Accept(ctx, rec); err != nil {
		t.Fatalf("accept: %v", err)
	}
	if p, err := driver.Inbox(ctx); err != nil || len(p) != 0 {
		t.Fatalf("inbox after accept: %v, %v", p, err)
	}
	g, err := driver.Grant(ctx, rec, nextID.Public(), client.GrantOptions{Duration: 720 * time.Hour, Purpose: "onboarding"})
	if err != nil {
		t.Fatalf("grant after accept: %v", err)
	}
	var got bytes.Buffer
	if _, err := next.Get(ctx, rec, &got, client.GetOptions{Purpose: "onboarding"}); err != nil {
		t.Fatalf("the new platform's get: %v", err)
	}
	if !bytes.Equal(got.Bytes(), doc.Bytes()) {
		t.Fatal("the new platform got another document than the subject")
	}
	var content bytes.Buffer
	h, err := issued.Verify(bytes.NewReader(got.Bytes()), &content)
	if err != nil || !h.Issuer.Equal(platformID.Public()) || !h.Subject.Equal(driverID.Public()) || !bytes.Equal(content.Bytes(), summary) {
		t.Fatalf("verify: %+v, %v", h, err)
	}
	altered := bytes.Replace(got.Bytes(), []byte(`"deliveries":412`), []byte(`"deliveries":512`), 1)
	if _, err := issued.Verify(bytes.NewReader(altered), &bytes.Buffer{}); !errors.Is(err, issued.ErrInvalid) {
		t.Fatalf("an altered document verified: %v", err)
	}
	// The issuer still cannot read it: the grant is the new platform's alone.
	if _, err := platform.Get(ctx, rec, &sink, client.GetOptions{}); err == nil {
		t.Fatal("the issuer read the record after the subject shared it with another")
	}
	if _, err := driver.Revoke(ctx, g.Grant); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := next.Get(ctx, rec, &sink, client.GetOptions{Purpose: "onboarding"}); err == nil {
		t.Fatal("the new platform read the record after the revocation")
	}

	// A second issue goes into another slot; the subject refuses it: erased, out of the inbox.
	second, err := platform.Issue(ctx, driverID.Public(), "summary-02.json", "application/json", summary)
	if err != nil {
		t.Fatal(err)
	}
	if err := driver.Refuse(ctx, second); err != nil {
		t.Fatalf("refuse: %v", err)
	}
	if r, err := driver.Record(ctx, second); err != nil || r.Erased == nil {
		t.Fatalf("refused record: %+v, %v", r, err)
	}
	if in, err := driver.InboxSlots(ctx, protocol.PubKeyOf(driverID.Public().Signing)); err != nil || len(in.Slots) != 2 {
		t.Fatalf("slots after two issues: %+v, %v", in, err)
	}
}
