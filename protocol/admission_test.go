package protocol

import (
	"context"
	"errors"
	"testing"
)

func TestEnrolWork(t *testing.T) {
	var signer PubKey
	signer[0] = 2
	nonce, err := SolveEnrol(context.Background(), "rr-test", signer, 12)
	if err != nil {
		t.Fatal(err)
	}
	if LeadingZeros(EnrolWork("rr-test", signer, nonce)) < 12 {
		t.Fatal("the solution does not have the work")
	}
	// The work is bound to the chain and the signer.
	other := signer
	other[1] = 1
	hits := 0
	for _, h := range []Hash32{EnrolWork("rr-other", signer, nonce), EnrolWork("rr-test", other, nonce)} {
		if LeadingZeros(h) >= 12 {
			hits++
		}
	}
	if hits == 2 {
		t.Fatal("one nonce does the work for another chain and another signer")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SolveEnrol(ctx, "rr-test", signer, 64); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled search: %v", err)
	}
}

func TestLeadingZeros(t *testing.T) {
	for _, c := range []struct {
		h    Hash32
		want int
	}{
		{Hash32{0x80}, 0},
		{Hash32{0x01}, 7},
		{Hash32{0, 0, 0x10}, 19},
		{Hash32{0, 0, 0, 0, 0, 0, 0, 0, 0x40}, 65},
		{Hash32{}, 256},
	} {
		if got := LeadingZeros(c.h); got != c.want {
			t.Errorf("LeadingZeros(%x) = %d, want %d", c.h[:9], got, c.want)
		}
	}
}

func TestAdmissionValues(t *testing.T) {
	r := DefaultAdmission
	b, _ := r.MarshalBinary()
	var back AdmissionRules
	if err := back.UnmarshalBinary(b); err != nil || back != r {
		t.Fatalf("rules round trip: %+v, %v", back, err)
	}
	by := PubKey{3}
	a := Account{Key: PubKey{2}, Tier: TierMember, By: &by, Height: 7, Usage: Allowance{Records: 1, Bytes: 2, Grants: 3}}
	b, _ = a.MarshalBinary()
	var acc Account
	if err := acc.UnmarshalBinary(b); err != nil || acc.Key != a.Key || *acc.By != by || acc.Usage != a.Usage || acc.Height != 7 {
		t.Fatalf("account round trip: %+v, %v", acc, err)
	}
	if err := acc.UnmarshalBinary(b[:len(b)-1]); err == nil {
		t.Fatal("a truncated account decoded")
	}
	if !r.Self.Fits(Allowance{Records: r.Self.Records}) || r.Self.Fits(Allowance{Records: r.Self.Records + 1}) {
		t.Fatal("Fits is not ≤ on every field")
	}
	for _, bad := range []*Admit{{Tier: 3, Accounts: []PubKey{{}}}, {Tier: TierSelf}} {
		if err := bad.validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("admit %+v: %v", bad, err)
		}
	}
}
