package umbral_test

// Checks the Go package against objects the reference implementation
// (npm @nucypher/umbral-pre@0.10.0) made, without needing Node.js:
// testdata/vectors/reference-0.10.0.json, written by
// testdata/oracle/gen-vectors.js. Randomized objects are checked as
// decode → verify → decrypt → re-encode-equals-input; SecretKeyFactory
// derivations are deterministic and must match exactly.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// hexBytes is a byte string written as hex in the vector file.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

type keyPair struct {
	SK hexBytes `json:"sk"`
	PK hexBytes `json:"pk"`
}

type referenceVectors struct {
	Reference  string `json:"reference"`
	Parameters struct {
		UX hexBytes `json:"u_x"`
	} `json:"parameters"`
	Factory struct {
		Seed        hexBytes `json:"seed"`
		Derivations []struct {
			Path   []hexBytes `json:"path"`
			Label  hexBytes   `json:"label"`
			SK     hexBytes   `json:"sk"`
			PK     hexBytes   `json:"pk"`
			Secret hexBytes   `json:"secret"`
		} `json:"derivations"`
	} `json:"factory"`
	Keys struct {
		Delegating keyPair `json:"delegating"`
		Receiving  keyPair `json:"receiving"`
		Signer     keyPair `json:"signer"`
	} `json:"keys"`
	Signatures []struct {
		Msg hexBytes `json:"msg"`
		Sig hexBytes `json:"sig"`
		DER hexBytes `json:"der"`
	} `json:"signatures"`
	Encryptions []struct {
		PT            hexBytes `json:"pt"`
		Capsule       hexBytes `json:"capsule"`
		CapsuleSimple hexBytes `json:"capsule_simple"`
		CT            hexBytes `json:"ct"`
	} `json:"encryptions"`
	KFragSets []struct {
		Threshold      int        `json:"threshold"`
		Shares         int        `json:"shares"`
		SignDelegating bool       `json:"sign_delegating_key"`
		SignReceiving  bool       `json:"sign_receiving_key"`
		Encryption     int        `json:"encryption"`
		KFrags         []hexBytes `json:"kfrags"`
		CFrags         []struct {
			CFrag  hexBytes `json:"cfrag"`
			Simple hexBytes `json:"cfrag_simple"`
		} `json:"cfrags"`
	} `json:"kfrag_sets"`
	Rejects []struct {
		Kind           string   `json:"kind"`
		Bytes          hexBytes `json:"bytes"`
		ReferenceError string   `json:"reference_error"`
	} `json:"rejects"`
}

func equalBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n got %x\nwant %x", what, trunc(got), trunc(want))
	}
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMarshal(t *testing.T, what string, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("marshal %s: %v", what, err)
	}
	return b
}

// participants are the three key pairs of a sharing: the owner (delegating),
// the reader (receiving) and the owner's signing key.
type participants struct {
	delegating, receiving, signing *umbral.SecretKey
}

func (p participants) all() []*umbral.SecretKey {
	return []*umbral.SecretKey{p.delegating, p.receiving, p.signing}
}

func goParticipants(t *testing.T) participants {
	t.Helper()
	var p participants
	for _, k := range []**umbral.SecretKey{&p.delegating, &p.receiving, &p.signing} {
		sk, err := umbral.GenerateSecretKey()
		if err != nil {
			t.Fatal(err)
		}
		*k = sk
	}
	return p
}

func loadVectors(t *testing.T) *referenceVectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors/reference-0.10.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var v referenceVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("vector file: %v", err)
	}
	if v.Reference != "@nucypher/umbral-pre@0.10.0" || len(v.KFragSets) == 0 || len(v.Encryptions) == 0 {
		t.Fatalf("vector file is not the expected reference output (%q)", v.Reference)
	}
	return &v
}

func vectorKeys(t *testing.T, v *referenceVectors) participants {
	t.Helper()
	var p participants
	for _, k := range []struct {
		dst  **umbral.SecretKey
		pair keyPair
	}{{&p.delegating, v.Keys.Delegating}, {&p.receiving, v.Keys.Receiving}, {&p.signing, v.Keys.Signer}} {
		sk, err := umbral.SecretKeyFromBytes(k.pair.SK)
		if err != nil {
			t.Fatalf("vector secret key: %v", err)
		}
		equalBytes(t, "public key of a vector secret key", sk.PublicKey().Bytes(), k.pair.PK)
		equalBytes(t, "vector secret key re-encoded", sk.Bytes(), k.pair.SK)
		*k.dst = sk
	}
	return p
}

func TestVectorsSecretKeyFactory(t *testing.T) {
	v := loadVectors(t)
	root, err := umbral.NewSecretKeyFactory(v.Factory.Seed)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range v.Factory.Derivations {
		f := root
		for _, step := range d.Path {
			f = f.MakeFactory(step)
		}
		sk := f.MakeKey(d.Label)
		equalBytes(t, "MakeKey", sk.Bytes(), d.SK)
		equalBytes(t, "MakeKey public key", sk.PublicKey().Bytes(), d.PK)
		equalBytes(t, "MakeSecret", f.MakeSecret(d.Label), d.Secret)
	}
	// The participants' keys in the file are derived from the same seed.
	for label, want := range map[string][]byte{
		"delegating": v.Keys.Delegating.SK, "receiving": v.Keys.Receiving.SK, "signer": v.Keys.Signer.SK,
	} {
		equalBytes(t, "MakeKey "+label, root.MakeKey([]byte(label)).Bytes(), want)
	}
}

func TestVectorsSignatures(t *testing.T) {
	v := loadVectors(t)
	p := vectorKeys(t, v)
	pk := p.signing.PublicKey()
	for _, s := range v.Signatures {
		fromRS, err := umbral.SignatureFromBytes(s.Sig)
		if err != nil {
			t.Fatalf("r‖s signature: %v", err)
		}
		fromDER, err := umbral.SignatureFromDER(s.DER)
		if err != nil {
			t.Fatalf("DER signature: %v", err)
		}
		for _, sig := range []*umbral.Signature{fromRS, fromDER} {
			if !sig.Verify(pk, s.Msg) {
				t.Fatal("reference signature does not verify")
			}
			if sig.Verify(pk, append([]byte{0}, s.Msg...)) {
				t.Fatal("reference signature verifies for another message")
			}
			if sig.Verify(p.delegating.PublicKey(), s.Msg) {
				t.Fatal("reference signature verifies for another key")
			}
			equalBytes(t, "signature r‖s", sig.Bytes(), s.Sig)
			equalBytes(t, "signature DER", sig.DER(), s.DER)
		}
	}
}

func TestVectorsEncryptions(t *testing.T) {
	v := loadVectors(t)
	p := vectorKeys(t, v)
	for i, e := range v.Encryptions {
		var c umbral.Capsule
		if err := c.UnmarshalBinary(e.Capsule); err != nil {
			t.Fatalf("encryption %d: capsule: %v", i, err)
		}
		equalBytes(t, "capsule re-encoded", mustMarshal(t, "capsule", &c), e.Capsule)
		equalBytes(t, "capsule simple form", c.BytesSimple(), e.CapsuleSimple)
		var fromSimple umbral.Capsule
		if err := fromSimple.UnmarshalSimple(e.CapsuleSimple); err != nil {
			t.Fatalf("encryption %d: simple capsule: %v", i, err)
		}
		equalBytes(t, "simple capsule re-encoded", mustMarshal(t, "capsule", &fromSimple), e.Capsule)
		pt, err := umbral.DecryptOriginal(p.delegating, &c, e.CT)
		if err != nil {
			t.Fatalf("encryption %d: DecryptOriginal: %v", i, err)
		}
		equalBytes(t, "DecryptOriginal", pt, e.PT)
		if _, err := umbral.DecryptOriginal(p.receiving, &c, e.CT); !errors.Is(err, umbral.ErrAuthenticationFailed) {
			t.Fatalf("encryption %d: DecryptOriginal with the wrong key: %v", i, err)
		}
	}
}

func TestVectorsKFragsAndCFrags(t *testing.T) {
	v := loadVectors(t)
	p := vectorKeys(t, v)
	verifying, delegating, receiving := p.signing.PublicKey(), p.delegating.PublicKey(), p.receiving.PublicKey()
	for si, set := range v.KFragSets {
		enc := v.Encryptions[set.Encryption]
		var capsule umbral.Capsule
		if err := capsule.UnmarshalBinary(enc.Capsule); err != nil {
			t.Fatal(err)
		}
		if len(set.KFrags) != set.Shares || len(set.CFrags) != set.Shares {
			t.Fatalf("set %d: %d kfrags, %d cfrags, want %d", si, len(set.KFrags), len(set.CFrags), set.Shares)
		}
		var fromGo []*umbral.VerifiedCapsuleFrag
		for i, kb := range set.KFrags {
			var kf umbral.KeyFrag
			if err := kf.UnmarshalBinary(kb); err != nil {
				t.Fatalf("set %d kfrag %d: %v", si, i, err)
			}
			equalBytes(t, "kfrag re-encoded", mustMarshal(t, "kfrag", &kf), kb)
			// A signed key that is not supplied must make verification fail.
			if set.SignDelegating {
				if _, err := kf.Verify(verifying, nil, receiving); !errors.Is(err, umbral.ErrDelegatingKeyNotProvided) {
					t.Fatalf("set %d kfrag %d without the signed delegating key: %v", si, i, err)
				}
			}
			if set.SignReceiving {
				if _, err := kf.Verify(verifying, delegating, nil); !errors.Is(err, umbral.ErrReceivingKeyNotProvided) {
					t.Fatalf("set %d kfrag %d without the signed receiving key: %v", si, i, err)
				}
			}
			if _, err := kf.Verify(delegating, delegating, receiving); !errors.Is(err, umbral.ErrIncorrectKeyFragSignature) {
				t.Fatalf("set %d kfrag %d with the wrong verifying key: %v", si, i, err)
			}
			vkf, err := kf.Verify(verifying, delegating, receiving)
			if err != nil {
				t.Fatalf("set %d kfrag %d: Verify: %v", si, i, err)
			}
			equalBytes(t, "verified kfrag re-encoded", mustMarshal(t, "kfrag", vkf), kb)
			equalBytes(t, "plain form of a verified kfrag", mustMarshal(t, "kfrag", vkf.KeyFrag()), kb)
			vcf, err := umbral.Reencrypt(&capsule, vkf)
			if err != nil {
				t.Fatal(err)
			}
			// The receiver's check covers the kfrag's signature for the receiver.
			if _, err := vcf.CapsuleFrag().Verify(&capsule, verifying, delegating, receiving); err != nil {
				t.Fatalf("set %d kfrag %d: Go cfrag from a reference kfrag: %v", si, i, err)
			}
			fromGo = append(fromGo, vcf)
		}

		var fromRef []*umbral.VerifiedCapsuleFrag
		for i, c := range set.CFrags {
			var cf umbral.CapsuleFrag
			if err := cf.UnmarshalBinary(c.CFrag); err != nil {
				t.Fatalf("set %d cfrag %d: %v", si, i, err)
			}
			equalBytes(t, "cfrag re-encoded", mustMarshal(t, "cfrag", &cf), c.CFrag)
			equalBytes(t, "cfrag simple form", cf.BytesSimple(), c.Simple)
			var fromSimple umbral.CapsuleFrag
			if err := fromSimple.UnmarshalSimple(c.Simple); err != nil {
				t.Fatalf("set %d cfrag %d: simple form: %v", si, i, err)
			}
			equalBytes(t, "simple cfrag re-encoded", mustMarshal(t, "cfrag", &fromSimple), c.CFrag)
			if _, err := cf.Verify(&capsule, verifying, receiving, delegating); !errors.Is(err, umbral.ErrIncorrectKeyFragSignature) {
				t.Fatalf("set %d cfrag %d with swapped keys: %v", si, i, err)
			}
			vcf, err := cf.Verify(&capsule, verifying, delegating, receiving)
			if err != nil {
				t.Fatalf("set %d cfrag %d: Verify: %v", si, i, err)
			}
			equalBytes(t, "verified cfrag re-encoded", mustMarshal(t, "cfrag", vcf), c.CFrag)
			equalBytes(t, "plain form of a verified cfrag", mustMarshal(t, "cfrag", vcf.CapsuleFrag()), c.CFrag)
			fromRef = append(fromRef, vcf)
		}

		// Any threshold-sized subset decrypts: the first t and the last t, and
		// a mix of reference cfrags and cfrags Go made from the reference kfrags.
		tt := set.Threshold
		mixed := append(append([]*umbral.VerifiedCapsuleFrag{}, fromRef[:tt/2]...), fromGo[tt/2:tt]...)
		for name, cfrags := range map[string][]*umbral.VerifiedCapsuleFrag{
			"first": fromRef[:tt], "last": fromRef[set.Shares-tt:], "mixed": mixed,
		} {
			pt, err := umbral.DecryptReencrypted(p.receiving, delegating, &capsule, cfrags, enc.CT)
			if err != nil {
				t.Fatalf("set %d (%s cfrags): DecryptReencrypted: %v", si, name, err)
			}
			equalBytes(t, "DecryptReencrypted", pt, enc.PT)
		}
		if tt > 1 {
			if _, err := umbral.DecryptReencrypted(p.receiving, delegating, &capsule, fromRef[:tt-1], enc.CT); !errors.Is(err, umbral.ErrValidationFailed) {
				t.Fatalf("set %d: fewer than threshold cfrags: %v", si, err)
			}
		}
	}
}

// rejectKinds maps the reference's error messages to the Go sentinel errors
// for the same failure.
var rejectKinds = map[string]error{
	"Capsule self-verification failed":     umbral.ErrCapsuleSelfVerification,
	"Invalid kfrag commitment":             umbral.ErrIncorrectCommitment,
	"Failed to verify the kfrag signature": umbral.ErrIncorrectKeyFragSignature,
	"Failed to verify reencryption proof":  umbral.ErrIncorrectReencryption,
	"Invalid CapsuleFrag signature":        umbral.ErrIncorrectKeyFragSignature,
}

// TestVectorsRejects feeds objects the reference refused (one bit flipped);
// Go must refuse each for the same reason.
func TestVectorsRejects(t *testing.T) {
	v := loadVectors(t)
	p := vectorKeys(t, v)
	verifying, delegating, receiving := p.signing.PublicKey(), p.delegating.PublicKey(), p.receiving.PublicKey()
	var setCapsule umbral.Capsule
	if err := setCapsule.UnmarshalBinary(v.Encryptions[v.KFragSets[3].Encryption].Capsule); err != nil {
		t.Fatal(err)
	}
	for i, r := range v.Rejects {
		var err error
		switch r.Kind {
		case "capsule":
			var c umbral.Capsule
			err = c.UnmarshalBinary(r.Bytes)
		case "kfrag":
			var kf umbral.KeyFrag
			if err = kf.UnmarshalBinary(r.Bytes); err == nil {
				_, err = kf.Verify(verifying, delegating, receiving)
			}
		case "cfrag":
			var cf umbral.CapsuleFrag
			if err = cf.UnmarshalBinary(r.Bytes); err == nil {
				_, err = cf.Verify(&setCapsule, verifying, delegating, receiving)
			}
		default:
			t.Fatalf("reject %d: unknown kind %q", i, r.Kind)
		}
		want, ok := rejectKinds[r.ReferenceError]
		if !ok {
			t.Fatalf("reject %d: unknown reference error %q", i, r.ReferenceError)
		}
		if !errors.Is(err, want) {
			t.Fatalf("reject %d (%s, reference: %q): Go error %v, want %v", i, r.Kind, r.ReferenceError, err, want)
		}
	}
}

// TestVectorsParameterU checks that Go-made kfrags embed the reference's
// parameter U (compressed, y odd) at offset 4, after 95 91 c4 21.
func TestVectorsParameterU(t *testing.T) {
	v := loadVectors(t)
	p := vectorKeys(t, v)
	want := append([]byte{0x03}, v.Parameters.UX...)
	equalBytes(t, "U in a reference kfrag", v.KFragSets[0].KFrags[0][4:4+33], want)
	vkfs, err := umbral.GenerateKFrags(p.delegating, p.receiving.PublicKey(), umbral.NewSigner(p.signing), 1, 1, false, false)
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, "U in a Go kfrag", mustMarshal(t, "kfrag", vkfs[0])[4:4+33], want)
}
