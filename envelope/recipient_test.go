package envelope

import (
	"bytes"
	"errors"
	"testing"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// TestRecipientOpens runs the access flow end to end with real Umbral re-encryption: the
// recipient gets the capsule from the header alone, proxies re-encrypt it with their kfrags,
// and t verified cfrags open the file.
func TestRecipientOpens(t *testing.T) {
	owner, _ := newOwner(t)
	recipient, _ := newOwner(t)
	signing, _ := newOwner(t)
	const threshold, shares = 2, 3
	kfrags, err := umbral.GenerateKFrags(owner, recipient.PublicKey(), umbral.NewSigner(signing), threshold, shares, true, true)
	if err != nil {
		t.Fatal(err)
	}
	pt := plaintext(5, 70000)
	sealed := sealBytes(t, owner, testMetadata(len(pt)), pt, nil, 0)

	h, err := ParseHeader(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	var cfrags []*umbral.VerifiedCapsuleFrag
	for _, kf := range kfrags {
		vcf, err := umbral.Reencrypt(h.Capsule(), kf)
		if err != nil {
			t.Fatal(err)
		}
		// The recipient verifies what a proxy sent before using it.
		cf := vcf.CapsuleFrag()
		verified, err := cf.Verify(h.Capsule(), signing.PublicKey(), owner.PublicKey(), recipient.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		cfrags = append(cfrags, verified)
	}
	key := RecipientKey{Receiving: recipient, Delegating: owner.PublicKey(), CFrags: cfrags[1:]}
	got, meta, err := openAll(sealed, key)
	if err != nil || !bytes.Equal(got, pt) || meta.Name != testMetadata(0).Name {
		t.Fatalf("recipient open: %v", err)
	}

	for name, k := range map[string]RecipientKey{
		"below threshold":      {Receiving: recipient, Delegating: owner.PublicKey(), CFrags: cfrags[:1]},
		"no cfrags":            {Receiving: recipient, Delegating: owner.PublicKey()},
		"wrong receiving key":  {Receiving: signing, Delegating: owner.PublicKey(), CFrags: cfrags},
		"wrong delegating key": {Receiving: recipient, Delegating: recipient.PublicKey(), CFrags: cfrags},
		"missing keys":         {CFrags: cfrags},
	} {
		if _, _, err := openAll(sealed, k); !errors.Is(err, ErrWrongKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Cfrags of another file's capsule do not open this one.
	other := sealBytes(t, owner, testMetadata(1), []byte{1}, nil, 0)
	if _, _, err := openAll(other, key); !errors.Is(err, ErrWrongKey) {
		t.Errorf("cfrags of another capsule: %v", err)
	}
}
