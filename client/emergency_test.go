package client

import (
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

func TestCoSignatureText(t *testing.T) {
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	c := &CoSignature{Sequence: 7, Expires: 1 << 40, CoSigner: protocol.PubKeyOf(umbral.NewSigner(sk).VerifyingKey())}
	c.Grant[0], c.Sig[63] = 1, 2
	got, err := ParseCoSignature(" " + c.String() + "\n")
	if err != nil || *got != *c {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	text := c.String()
	for _, bad := range []string{"", text[:len(text)-1], text + "A", strings.Replace(text, "cosig1", "cosig2", 1), text[:20] + "!" + text[21:]} {
		if _, err := ParseCoSignature(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseCoSignature(f *testing.F) {
	f.Add(coSigPrefix + strings.Repeat("A", 194))
	f.Add("rrec-cosig1-")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCoSignature(s)
		if err == nil {
			if again, err := ParseCoSignature(c.String()); err != nil || *again != *c {
				t.Fatalf("re-parse: %v", err)
			}
		}
	})
}
