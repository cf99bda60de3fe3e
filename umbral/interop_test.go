package umbral_test

// Live interoperability with the reference implementation: the npm package
// @nucypher/umbral-pre@0.10.0 (the WASM build of rust-umbral) running under
// Node.js as the oracle in testdata/oracle (oracle.js, JSON lines over
// stdin/stdout). Objects travel both ways and must re-encode to identical
// bytes on the other side.

import (
	"errors"
	"fmt"
	"testing"

	"github.com/resilientrecords/resilientrecords/umbral"
)

func referenceParticipants(t *testing.T, o *oracle) participants {
	t.Helper()
	var p participants
	for _, k := range []**umbral.SecretKey{&p.delegating, &p.receiving, &p.signing} {
		ans := o.call(t, "keygen", nil)
		sk, err := umbral.SecretKeyFromBytes(ans.SK)
		if err != nil {
			t.Fatalf("Go refuses a reference secret key: %v", err)
		}
		equalBytes(t, "public key of a reference secret key", sk.PublicKey().Bytes(), ans.PK)
		*k = sk
	}
	return p
}

// keyArgs are the verification keys every kfrag/cfrag check needs.
func (p participants) keyArgs() map[string]any {
	return map[string]any{
		"verifying":  p.signing.PublicKey().Bytes(),
		"delegating": p.delegating.PublicKey().Bytes(),
		"receiving":  p.receiving.PublicKey().Bytes(),
	}
}

func with(base map[string]any, kv ...any) map[string]any {
	m := make(map[string]any, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// sharing is one combination of threshold, share count and signing flags.
type sharing struct {
	threshold, shares             int
	signDelegating, signReceiving bool
	plaintextLen                  int
}

func (s sharing) String() string {
	return fmt.Sprintf("%d-of-%d/signDelegating=%t/signReceiving=%t/%dB",
		s.threshold, s.shares, s.signDelegating, s.signReceiving, s.plaintextLen)
}

// sharings covers every signing-flag combination with each threshold and
// cycles through the plaintext lengths; 1 MiB appears once to keep it quick.
func sharings() []sharing {
	var out []sharing
	sizes := []int{0, 1, 1000}
	i := 0
	for _, ts := range [][2]int{{1, 1}, {2, 3}, {3, 5}} {
		for _, flags := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			out = append(out, sharing{ts[0], ts[1], flags[0], flags[1], sizes[i%len(sizes)]})
			i++
		}
	}
	out[len(out)-1].plaintextLen = 1 << 20
	return out
}

// TestInteropSharings runs every sharing both ways: Go-made objects consumed
// by the reference, and the reference's objects consumed by Go.
func TestInteropSharings(t *testing.T) {
	o := startOracle(t)
	for _, sh := range sharings() {
		t.Run("GoToReference/"+sh.String(), func(t *testing.T) { goToReference(t, o, sh) })
		t.Run("ReferenceToGo/"+sh.String(), func(t *testing.T) { referenceToGo(t, o, sh) })
	}
}

// goToReference: Go encrypts and makes kfrags and cfrags; the reference
// checks and uses all of them, and Go uses the reference's cfrags.
func goToReference(t *testing.T, o *oracle, sh sharing) {
	p := goParticipants(t)
	pt := randomBytes(t, sh.plaintextLen)
	capsule, ct, err := umbral.Encrypt(p.delegating.PublicKey(), pt)
	if err != nil {
		t.Fatal(err)
	}
	capsuleBytes := mustMarshal(t, "capsule", capsule)
	ans := o.call(t, "capsule", map[string]any{"capsule": capsuleBytes})
	equalBytes(t, "reference re-encoding of a Go capsule", ans.Capsule, capsuleBytes)
	equalBytes(t, "reference simple form of a Go capsule", ans.Simple, capsule.BytesSimple())

	ans = o.call(t, "decryptOriginal", map[string]any{"sk": p.delegating.Bytes(), "capsule": capsuleBytes, "ct": ct})
	equalBytes(t, "reference decryptOriginal of Go ciphertext", ans.PT, pt)

	signer := umbral.NewSigner(p.signing)
	vkfrags, err := umbral.GenerateKFrags(p.delegating, p.receiving.PublicKey(), signer,
		sh.threshold, sh.shares, sh.signDelegating, sh.signReceiving)
	if err != nil {
		t.Fatal(err)
	}
	if len(vkfrags) != sh.shares {
		t.Fatalf("GenerateKFrags made %d kfrags, want %d", len(vkfrags), sh.shares)
	}
	keys := p.keyArgs()
	var refCFrags, goCFrags [][]byte
	for i, vkf := range vkfrags {
		kfBytes := mustMarshal(t, "kfrag", vkf)
		// A proxy supplies only the keys the kfrag says were signed.
		args := with(keys, "kfrag", kfBytes)
		if !sh.signDelegating {
			args["delegating"] = nil
		}
		if !sh.signReceiving {
			args["receiving"] = nil
		}
		ans := o.call(t, "kfragVerify", args)
		equalBytes(t, fmt.Sprintf("reference re-encoding of Go kfrag %d", i), ans.KFrag, kfBytes)
		ans = o.call(t, "reencrypt", with(args, "capsule", capsuleBytes))
		refCFrags = append(refCFrags, ans.CFrag)

		vcf, err := umbral.Reencrypt(capsule, vkf)
		if err != nil {
			t.Fatal(err)
		}
		cfBytes := mustMarshal(t, "cfrag", vcf)
		ans = o.call(t, "cfragVerify", with(keys, "cfrag", cfBytes, "capsule", capsuleBytes))
		equalBytes(t, fmt.Sprintf("reference re-encoding of Go cfrag %d", i), ans.CFrag, cfBytes)
		equalBytes(t, fmt.Sprintf("reference simple form of Go cfrag %d", i), ans.Simple, vcf.BytesSimple())
		goCFrags = append(goCFrags, cfBytes)
	}

	// The reference decrypts with Go's cfrags, and with a mix of both sides'.
	mixed := append(append([][]byte{}, goCFrags[:sh.threshold/2]...), refCFrags[sh.threshold/2:sh.threshold]...)
	for name, cfrags := range map[string][][]byte{"Go": goCFrags[:sh.threshold], "mixed": mixed} {
		ans := o.call(t, "decryptReencrypted", with(keys, "sk", p.receiving.Bytes(), "capsule", capsuleBytes,
			"cfrags", cfrags, "ct", ct))
		equalBytes(t, "reference decryptReencrypted with "+name+" cfrags", ans.PT, pt)
	}

	// Go verifies the reference's cfrags and decrypts with them.
	got := decryptWithCFrags(t, p, capsule, refCFrags[len(refCFrags)-sh.threshold:], ct)
	equalBytes(t, "Go decryptReencrypted with reference cfrags", got, pt)
}

// decryptWithCFrags decodes and verifies serialized cfrags in Go, checks that
// they re-encode to the same bytes, and decrypts with them.
func decryptWithCFrags(t *testing.T, p participants, capsule *umbral.Capsule, cfrags [][]byte, ct []byte) []byte {
	t.Helper()
	var verified []*umbral.VerifiedCapsuleFrag
	for i, b := range cfrags {
		var cf umbral.CapsuleFrag
		if err := cf.UnmarshalBinary(b); err != nil {
			t.Fatalf("Go decoding reference cfrag %d: %v", i, err)
		}
		vcf, err := cf.Verify(capsule, p.signing.PublicKey(), p.delegating.PublicKey(), p.receiving.PublicKey())
		if err != nil {
			t.Fatalf("Go verifying reference cfrag %d: %v", i, err)
		}
		equalBytes(t, "Go re-encoding of a reference cfrag", mustMarshal(t, "cfrag", vcf), b)
		verified = append(verified, vcf)
	}
	pt, err := umbral.DecryptReencrypted(p.receiving, p.delegating.PublicKey(), capsule, verified, ct)
	if err != nil {
		t.Fatalf("Go DecryptReencrypted: %v", err)
	}
	return pt
}

// referenceToGo: the reference encrypts and makes kfrags and cfrags; Go
// decodes, verifies, re-encrypts and decrypts, and the reference accepts the
// cfrags Go made from the reference's kfrags.
func referenceToGo(t *testing.T, o *oracle, sh sharing) {
	p := referenceParticipants(t, o)
	pt := randomBytes(t, sh.plaintextLen)
	ans := o.call(t, "encrypt", map[string]any{"pk": p.delegating.PublicKey().Bytes(), "pt": pt})
	capsuleBytes, ct := ans.Capsule, ans.CT
	var capsule umbral.Capsule
	if err := capsule.UnmarshalBinary(capsuleBytes); err != nil {
		t.Fatalf("Go decoding a reference capsule: %v", err)
	}
	equalBytes(t, "Go re-encoding of a reference capsule", mustMarshal(t, "capsule", &capsule), capsuleBytes)
	equalBytes(t, "Go simple form of a reference capsule", capsule.BytesSimple(), ans.Simple)
	got, err := umbral.DecryptOriginal(p.delegating, &capsule, ct)
	if err != nil {
		t.Fatalf("Go DecryptOriginal of reference ciphertext: %v", err)
	}
	equalBytes(t, "Go DecryptOriginal of reference ciphertext", got, pt)

	keys := p.keyArgs()
	ans = o.call(t, "generateKFrags", map[string]any{
		"delegating": p.delegating.Bytes(), "receiving": p.receiving.PublicKey().Bytes(), "signer": p.signing.Bytes(),
		"threshold": sh.threshold, "shares": sh.shares,
		"signDelegating": sh.signDelegating, "signReceiving": sh.signReceiving,
	})
	kfrags := ans.KFrags
	if len(kfrags) != sh.shares {
		t.Fatalf("reference made %d kfrags, want %d", len(kfrags), sh.shares)
	}
	var refCFrags, goCFrags [][]byte
	for i, kfBytes := range kfrags {
		var kf umbral.KeyFrag
		if err := kf.UnmarshalBinary(kfBytes); err != nil {
			t.Fatalf("Go decoding reference kfrag %d: %v", i, err)
		}
		equalBytes(t, "Go re-encoding of a reference kfrag", mustMarshal(t, "kfrag", &kf), kfBytes)
		vkf, err := kf.Verify(p.signing.PublicKey(), p.delegating.PublicKey(), p.receiving.PublicKey())
		if err != nil {
			t.Fatalf("Go verifying reference kfrag %d: %v", i, err)
		}
		equalBytes(t, "Go re-encoding of a verified reference kfrag", mustMarshal(t, "kfrag", vkf), kfBytes)

		vcf, err := umbral.Reencrypt(&capsule, vkf)
		if err != nil {
			t.Fatal(err)
		}
		cfBytes := mustMarshal(t, "cfrag", vcf)
		ans := o.call(t, "cfragVerify", with(keys, "cfrag", cfBytes, "capsule", capsuleBytes))
		equalBytes(t, "reference re-encoding of a Go cfrag", ans.CFrag, cfBytes)
		goCFrags = append(goCFrags, cfBytes)

		ans = o.call(t, "reencrypt", with(keys, "kfrag", kfBytes, "capsule", capsuleBytes))
		refCFrags = append(refCFrags, ans.CFrag)
		var plain umbral.CapsuleFrag
		if err := plain.UnmarshalBinary(refCFrags[i]); err != nil {
			t.Fatal(err)
		}
		equalBytes(t, "Go simple form of a reference cfrag", plain.BytesSimple(), ans.Simple)
	}

	got = decryptWithCFrags(t, p, &capsule, refCFrags[:sh.threshold], ct)
	equalBytes(t, "Go decryptReencrypted with reference cfrags", got, pt)
	ans = o.call(t, "decryptReencrypted", with(keys, "sk", p.receiving.Bytes(), "capsule", capsuleBytes,
		"cfrags", goCFrags[len(goCFrags)-sh.threshold:], "ct", ct))
	equalBytes(t, "reference decryptReencrypted with cfrags Go made from reference kfrags", ans.PT, pt)
}

// TestInteropKeys: same seed → same MakeKey/MakeSecret/MakeFactory output on
// both sides; keys made on one side give the same public key on the other.
func TestInteropKeys(t *testing.T) {
	o := startOracle(t)
	seeds := [][]byte{make([]byte, 32), randomBytes(t, 32), randomBytes(t, 32)}
	labels := [][]byte{{}, []byte("delegating"), {0x00, 0xff}, randomBytes(t, 100)}
	paths := [][][]byte{nil, {[]byte("records")}, {{}, randomBytes(t, 7)}}
	for _, seed := range seeds {
		root, err := umbral.NewSecretKeyFactory(seed)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			f := root
			for _, step := range path {
				f = f.MakeFactory(step)
			}
			for _, label := range labels {
				ans := o.call(t, "factory", map[string]any{"seed": seed, "path": path, "label": label})
				what := fmt.Sprintf(" (seed %x path %x label %x)", seed[:4], path, trunc(label))
				sk := f.MakeKey(label)
				equalBytes(t, "MakeKey"+what, sk.Bytes(), ans.SK)
				equalBytes(t, "MakeKey public key"+what, sk.PublicKey().Bytes(), ans.PK)
				equalBytes(t, "MakeSecret"+what, f.MakeSecret(label), ans.Secret)
			}
		}
	}
	for _, sk := range goParticipants(t).all() {
		ans := o.call(t, "secretKey", map[string]any{"sk": sk.Bytes()})
		equalBytes(t, "reference re-encoding of a Go secret key", ans.SK, sk.Bytes())
		equalBytes(t, "reference public key of a Go secret key", ans.PK, sk.PublicKey().Bytes())
	}
	for _, sk := range referenceParticipants(t, o).all() { // checks the public keys match
		pk, err := umbral.PublicKeyFromBytes(sk.PublicKey().Bytes())
		if err != nil || !pk.Equal(sk.PublicKey()) {
			t.Fatalf("PublicKeyFromBytes round trip of a reference key: %v", err)
		}
	}
}

func TestInteropSignatures(t *testing.T) {
	o := startOracle(t)
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	signer := umbral.NewSigner(sk)
	pk := signer.VerifyingKey()
	for _, msg := range [][]byte{{}, []byte("Resilient Records"), randomBytes(t, 1000)} {
		// Go signs; the reference verifies both encodings and re-encodes them alike.
		sig, err := signer.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range []string{"sig", "der"} {
			enc := sig.Bytes()
			if form == "der" {
				enc = sig.DER()
			}
			ans := o.call(t, "verify", map[string]any{"pk": pk.Bytes(), "msg": msg, form: enc})
			if !ans.Valid {
				t.Fatalf("reference rejects a Go signature given as %s", form)
			}
			equalBytes(t, "reference r‖s of a Go signature", ans.Sig, sig.Bytes())
			equalBytes(t, "reference DER of a Go signature", ans.DER, sig.DER())
			ans = o.call(t, "verify", map[string]any{"pk": pk.Bytes(), "msg": append([]byte{1}, msg...), form: enc})
			if ans.Valid {
				t.Fatal("reference accepts a Go signature over another message")
			}
		}

		// The reference signs; Go verifies both encodings and re-encodes them alike.
		ans := o.call(t, "sign", map[string]any{"sk": sk.Bytes(), "msg": msg})
		rs, der := ans.Sig, ans.DER
		fromRS, err := umbral.SignatureFromBytes(rs)
		if err != nil {
			t.Fatalf("Go decoding a reference r‖s signature: %v", err)
		}
		fromDER, err := umbral.SignatureFromDER(der)
		if err != nil {
			t.Fatalf("Go decoding a reference DER signature: %v", err)
		}
		for _, s := range []*umbral.Signature{fromRS, fromDER} {
			if !s.Verify(pk, msg) {
				t.Fatal("Go rejects a reference signature")
			}
			if s.Verify(pk, append(msg, 0)) {
				t.Fatal("Go accepts a reference signature over another message")
			}
			equalBytes(t, "Go r‖s of a reference signature", s.Bytes(), rs)
			equalBytes(t, "Go DER of a reference signature", s.DER(), der)
		}
	}
}

// TestInteropTampering flips one bit of the proof scalar z in a cfrag and of
// rk in a kfrag: each side must reject what the other made and tampered, for
// the right reason.
func TestInteropTampering(t *testing.T) {
	o := startOracle(t)
	const zLastByte, rkLastByte = 314, 104 // offsets in the 381/310-byte MessagePack forms
	p := goParticipants(t)
	keys := p.keyArgs()
	verifying, delegating, receiving := p.signing.PublicKey(), p.delegating.PublicKey(), p.receiving.PublicKey()
	capsule, _, err := umbral.Encrypt(delegating, []byte("tamper me"))
	if err != nil {
		t.Fatal(err)
	}
	capsuleBytes := mustMarshal(t, "capsule", capsule)
	vkfrags, err := umbral.GenerateKFrags(p.delegating, receiving, umbral.NewSigner(p.signing), 2, 3, true, true)
	if err != nil {
		t.Fatal(err)
	}
	goKF := mustMarshal(t, "kfrag", vkfrags[0])
	vcf, err := umbral.Reencrypt(capsule, vkfrags[0])
	if err != nil {
		t.Fatal(err)
	}
	goCF := mustMarshal(t, "cfrag", vcf)
	refCF := o.call(t, "reencrypt", with(keys, "kfrag", goKF, "capsule", capsuleBytes)).CFrag
	refKF := o.call(t, "generateKFrags", map[string]any{
		"delegating": p.delegating.Bytes(), "receiving": receiving.Bytes(), "signer": p.signing.Bytes(),
		"threshold": 2, "shares": 3, "signDelegating": true, "signReceiving": true,
	}).KFrags[0]
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		return c
	}

	// Untampered, both sides accept; tampered, the reference refuses Go's.
	o.call(t, "cfragVerify", with(keys, "cfrag", goCF, "capsule", capsuleBytes))
	o.call(t, "kfragVerify", with(keys, "kfrag", goKF))
	o.mustReject(t, "cfragVerify", with(keys, "cfrag", flip(goCF, zLastByte), "capsule", capsuleBytes))
	o.mustReject(t, "kfragVerify", with(keys, "kfrag", flip(goKF, rkLastByte)))

	// Tampered, Go refuses the reference's (decoding still succeeds).
	for _, c := range []struct {
		b    []byte
		want error
	}{{refCF, nil}, {flip(refCF, zLastByte), umbral.ErrIncorrectReencryption}} {
		var cf umbral.CapsuleFrag
		if err := cf.UnmarshalBinary(c.b); err != nil {
			t.Fatalf("Go decoding a reference cfrag: %v", err)
		}
		if _, err := cf.Verify(capsule, verifying, delegating, receiving); !errors.Is(err, c.want) {
			t.Fatalf("Go verifying a reference cfrag: got %v, want %v", err, c.want)
		}
	}
	for _, c := range []struct {
		b    []byte
		want error
	}{{refKF, nil}, {flip(refKF, rkLastByte), umbral.ErrIncorrectCommitment}} {
		var kf umbral.KeyFrag
		if err := kf.UnmarshalBinary(c.b); err != nil {
			t.Fatalf("Go decoding a reference kfrag: %v", err)
		}
		if _, err := kf.Verify(verifying, delegating, receiving); !errors.Is(err, c.want) {
			t.Fatalf("Go verifying a reference kfrag: got %v, want %v", err, c.want)
		}
	}
}
