package recovery_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"testing/cryptotest"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/recovery"
	"github.com/resilientrecords/resilientrecords/umbral"
)

var update = flag.Bool("update", false, "rewrite testdata/split-v1.json")

func scalar(v byte) [32]byte { var b [32]byte; b[31] = v; return b }

func pubOf(t *testing.T, v byte) protocol.PubKey {
	t.Helper()
	b := scalar(v)
	sk, err := umbral.SecretKeyFromBytes(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return protocol.PubKeyOf(sk.PublicKey())
}

// TestKnownPolynomial: f(x) = 7 + 3x, worked by hand: the shares 10, 13, 16 verify against
// 7·G and 3·G, any two rebuild 7, one alone does not.
func TestKnownPolynomial(t *testing.T) {
	commitments := []protocol.PubKey{pubOf(t, 7), pubOf(t, 3)}
	shares := []recovery.Share{{Index: 1, Value: scalar(10)}, {Index: 2, Value: scalar(13)}, {Index: 3, Value: scalar(16)}}
	for _, s := range shares {
		if err := recovery.Verify(commitments, s); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
	}
	for _, pair := range [][2]int{{0, 1}, {0, 2}, {2, 1}} {
		sk, err := recovery.Combine(commitments, []recovery.Share{shares[pair[0]], shares[pair[1]]})
		if err != nil {
			t.Fatalf("%v: %v", pair, err)
		}
		if want := scalar(7); !bytes.Equal(sk.Bytes(), want[:]) {
			t.Fatalf("%v rebuilt %x", pair, sk.Bytes())
		}
	}
	if _, err := recovery.Combine(commitments, shares[:1]); !errors.Is(err, recovery.ErrTooFewShares) {
		t.Fatalf("one share: %v", err)
	}
	wrong := recovery.Share{Index: 2, Value: scalar(14)}
	if err := recovery.Verify(commitments, wrong); !errors.Is(err, recovery.ErrBadShare) {
		t.Fatalf("f(2) = 14 verified: %v", err)
	}
	if err := recovery.Verify(commitments, recovery.Share{Index: 0, Value: scalar(7)}); !errors.Is(err, recovery.ErrBadShare) {
		t.Fatalf("index 0 (the secret itself) verified: %v", err)
	}
}

// TestSplitCombine: every k-subset of the shares rebuilds the key whose public key is the
// first commitment; k−1 never do; a wrong share is skipped for a further good one.
func TestSplitCombine(t *testing.T) {
	for _, kn := range [][2]int{{1, 1}, {1, 3}, {2, 3}, {3, 5}, {5, 10}} {
		k, n := kn[0], kn[1]
		shares, commitments, err := recovery.Split(k, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(shares) != n || len(commitments) != k {
			t.Fatalf("%d of %d: %d shares, %d commitments", k, n, len(shares), len(commitments))
		}
		for i, s := range shares {
			if s.Index != uint8(i+1) || recovery.Verify(commitments, s) != nil {
				t.Fatalf("%d of %d: share %d does not verify", k, n, i)
			}
		}
		for start := 0; start+k <= n; start++ {
			sk, err := recovery.Combine(commitments, shares[start:start+k])
			if err != nil || protocol.PubKeyOf(sk.PublicKey()) != commitments[0] {
				t.Fatalf("%d of %d from %d: %v", k, n, start, err)
			}
		}
		if k > 1 {
			if _, err := recovery.Combine(commitments, shares[:k-1]); !errors.Is(err, recovery.ErrTooFewShares) {
				t.Fatalf("%d of %d with k−1 shares: %v", k, n, err)
			}
			// Interpolating k−1 shares as if they were all does not give the key either: the
			// threshold is in the arithmetic, not only in the count check.
			short, err := recovery.Combine(commitments[:k-1], shares[:k-1])
			if err == nil && protocol.PubKeyOf(short.PublicKey()) == commitments[0] {
				t.Fatalf("%d of %d: k−1 shares rebuilt the key", k, n)
			}
		}
		if n > k {
			bad := append([]recovery.Share(nil), shares[:k+1]...)
			bad[0].Value[31] ^= 1
			sk, err := recovery.Combine(commitments, bad)
			if err != nil || protocol.PubKeyOf(sk.PublicKey()) != commitments[0] {
				t.Fatalf("%d of %d with one wrong share and one spare: %v", k, n, err)
			}
			if _, err := recovery.Combine(commitments, bad[:k]); !errors.Is(err, recovery.ErrTooFewShares) {
				t.Fatalf("%d of %d with one wrong share and no spare: %v", k, n, err)
			}
		}
	}
	for _, kn := range [][2]int{{0, 1}, {2, 1}, {1, 256}} {
		if _, _, err := recovery.Split(kn[0], kn[1]); err == nil {
			t.Errorf("Split(%d, %d) did not fail", kn[0], kn[1])
		}
	}
	if s := (recovery.Share{Index: 3, Value: scalar(9)}); s.String() != "Share(3)" || s.GoString() != "Share(3)" {
		t.Fatalf("a share prints as %q", s.String())
	}
}

// TestSealOpen: a sealed share opens only with its key, for its audience, grant or process,
// and index; every sealed share has the same size, within what the ledger takes.
func TestSealOpen(t *testing.T) {
	shares, _, err := recovery.Split(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	sk, _ := umbral.GenerateSecretKey()
	other, _ := umbral.GenerateSecretKey()
	to := protocol.PubKeyOf(sk.PublicKey())
	about := [32]byte{1, 2, 3}
	box, err := recovery.Seal(to, recovery.ToGuardian, about, shares[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, aud := range []recovery.Audience{recovery.ToGuardian, recovery.ToDevice} {
		if n := recovery.BoxSize(aud); n > protocol.MaxShareBox {
			t.Fatalf("audience %d: %d bytes, the ledger takes %d", aud, n, protocol.MaxShareBox)
		}
	}
	if len(box) != recovery.BoxSize(recovery.ToGuardian) {
		t.Fatalf("box of %d bytes", len(box))
	}
	got, err := recovery.Open(sk, recovery.ToGuardian, about, 2, box)
	if err != nil || got != shares[1] {
		t.Fatalf("open: %v", err)
	}
	dev, err := recovery.Seal(to, recovery.ToDevice, about, shares[1])
	if err != nil {
		t.Fatal(err)
	}
	for name, try := range map[string]func() error{
		"other key":      func() error { _, err := recovery.Open(other, recovery.ToGuardian, about, 2, box); return err },
		"other audience": func() error { _, err := recovery.Open(sk, recovery.ToGuardian, about, 2, dev); return err },
		"other grant":    func() error { _, err := recovery.Open(sk, recovery.ToGuardian, [32]byte{9}, 2, box); return err },
		"other index":    func() error { _, err := recovery.Open(sk, recovery.ToGuardian, about, 1, box); return err },
		"truncated":      func() error { _, err := recovery.Open(sk, recovery.ToGuardian, about, 2, box[:len(box)-1]); return err },
		"flipped": func() error {
			b := bytes.Clone(box)
			b[len(b)-1] ^= 1
			_, err := recovery.Open(sk, recovery.ToGuardian, about, 2, b)
			return err
		},
		"no audience": func() error { _, err := recovery.Open(sk, 0, about, 2, box); return err },
	} {
		if err := try(); !errors.Is(err, recovery.ErrBox) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := recovery.Seal(protocol.PubKey{}, recovery.ToGuardian, about, shares[0]); err == nil {
		t.Fatal("sealed to a key that is not a point")
	}
}

type vector struct {
	Commitments []protocol.PubKey `json:"commitments"`
	Shares      []struct {
		Index uint8  `json:"index"`
		Value string `json:"value"`
	} `json:"shares"`
	Secret string `json:"secret"`
}

// TestVectors pins the arithmetic: shares and commitments of a 3-of-5 split made from seeded
// randomness, and the secret any three rebuild. Rewrite with -update.
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "split-v1.json")
	if *update {
		cryptotest.SetGlobalRandom(t, 16)
		shares, commitments, err := recovery.Split(3, 5)
		if err != nil {
			t.Fatal(err)
		}
		sk, err := recovery.Combine(commitments, shares[2:])
		if err != nil {
			t.Fatal(err)
		}
		v := vector{Commitments: commitments, Secret: hex.EncodeToString(sk.Bytes())}
		for _, s := range shares {
			v.Shares = append(v.Shares, struct {
				Index uint8  `json:"index"`
				Value string `json:"value"`
			}{s.Index, hex.EncodeToString(s.Value[:])})
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var shares []recovery.Share
	for _, s := range v.Shares {
		var sh recovery.Share
		sh.Index = s.Index
		if _, err := hex.Decode(sh.Value[:], []byte(s.Value)); err != nil {
			t.Fatal(err)
		}
		shares = append(shares, sh)
	}
	for _, pick := range [][]int{{0, 1, 2}, {4, 2, 0}, {1, 3, 4}} {
		var sub []recovery.Share
		for _, i := range pick {
			sub = append(sub, shares[i])
		}
		sk, err := recovery.Combine(v.Commitments, sub)
		if err != nil || hex.EncodeToString(sk.Bytes()) != v.Secret {
			t.Fatalf("%v: %v", pick, err)
		}
	}
}

// FuzzOpen: whatever arrives as a sealed share, opening it never panics and refuses with
// ErrBox unless it is a real box for this key.
func FuzzOpen(f *testing.F) {
	sk, _ := umbral.GenerateSecretKey()
	shares, _, _ := recovery.Split(1, 1)
	box, _ := recovery.Seal(protocol.PubKeyOf(sk.PublicKey()), recovery.ToDevice, [32]byte{}, shares[0])
	f.Add(box)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := recovery.Open(sk, recovery.ToDevice, [32]byte{}, 1, b)
		if err != nil && !errors.Is(err, recovery.ErrBox) {
			t.Fatalf("error %v is not ErrBox", err)
		}
		if err == nil && !bytes.Equal(b, box) {
			t.Fatalf("a box other than the one sealed opened to %v", s)
		}
	})
}
