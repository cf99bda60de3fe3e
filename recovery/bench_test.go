package recovery_test

import (
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/recovery"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// The client-side cost of recovery's shares for the largest setup, 10 guardians: the owner
// splits and seals ten, a guardian opens and checks one and seals it to the device, the
// device opens, checks and combines what it needs.

func BenchmarkSplit10(b *testing.B) {
	for b.Loop() {
		if _, _, err := recovery.Split(6, 10); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	shares, commitments, _ := recovery.Split(6, 10)
	for b.Loop() {
		if err := recovery.Verify(commitments, shares[9]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCombine6(b *testing.B) {
	shares, commitments, _ := recovery.Split(6, 10)
	for b.Loop() {
		if _, err := recovery.Combine(commitments, shares[4:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealOpen(b *testing.B) {
	shares, _, _ := recovery.Split(1, 1)
	sk, _ := umbral.GenerateSecretKey()
	to := protocol.PubKeyOf(sk.PublicKey())
	for b.Loop() {
		box, err := recovery.Seal(to, recovery.ToDevice, [32]byte{}, shares[0])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := recovery.Open(sk, recovery.ToDevice, [32]byte{}, 1, box); err != nil {
			b.Fatal(err)
		}
	}
}
