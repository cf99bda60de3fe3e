package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"filippo.io/age"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// The in-memory benchmarks take the file system out of the comparison: both tools seal from a
// bytes.Reader into io.Discard and open from a bytes.Reader into io.Discard, through io.Copy as a
// caller would. Run with -count to interleave the two:
//
//	go test -run '^$' -bench . -count 5 ./scripts/bench-envelope

const memSize = 64 << 20

func benchInput() []byte {
	b := make([]byte, memSize)
	rand.NewChaCha8([32]byte{2}).Read(b)
	return b
}

func BenchmarkSeal(b *testing.B) {
	pt := benchInput()
	sk, _ := umbral.GenerateSecretKey()
	id, _ := age.GenerateX25519Identity()
	b.Run("age", func(b *testing.B) {
		b.SetBytes(memSize)
		for b.Loop() {
			w, err := age.Encrypt(io.Discard, id.Recipient())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(w, bytes.NewReader(pt)); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("envelope", func(b *testing.B) {
		b.SetBytes(memSize)
		for b.Loop() {
			w, err := envelope.Seal(io.Discard, sk.PublicKey(), envelope.Metadata{Size: memSize}, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(w, bytes.NewReader(pt)); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	pt := benchInput()
	sk, _ := umbral.GenerateSecretKey()
	id, _ := age.GenerateX25519Identity()
	var ageFile, envFile bytes.Buffer
	aw, _ := age.Encrypt(&ageFile, id.Recipient())
	aw.Write(pt)
	aw.Close()
	ew, _ := envelope.Seal(&envFile, sk.PublicKey(), envelope.Metadata{Size: memSize}, nil)
	ew.Write(pt)
	ew.Close()
	b.Run("age", func(b *testing.B) {
		b.SetBytes(memSize)
		for b.Loop() {
			r, err := age.Decrypt(bytes.NewReader(ageFile.Bytes()), id)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("envelope", func(b *testing.B) {
		b.SetBytes(memSize)
		for b.Loop() {
			r, err := envelope.Open(bytes.NewReader(envFile.Bytes()), envelope.OwnerKey{Delegating: sk})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
