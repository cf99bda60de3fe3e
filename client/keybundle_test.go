package client

import (
	"bytes"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

func testBundle(t testing.TB, n int) *keyBundle {
	f, err := umbral.NewSecretKeyFactory(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	kb := &keyBundle{delegation: protocol.ID{1, 2, 3}, keys: map[protocol.ID]*umbral.SecretKey{}}
	for i := range n {
		kb.keys[protocol.ID{byte(i), 9}] = f.MakeKey([]byte{byte(i)})
	}
	return kb
}

func TestKeyBundleRoundTrip(t *testing.T) {
	kb := testBundle(t, 3)
	b, err := kb.marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := kb.marshal()
	if !bytes.Equal(b, again) {
		t.Fatal("one bundle, two encodings")
	}
	got, err := parseKeyBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.delegation != kb.delegation || len(got.keys) != 3 {
		t.Fatalf("got %v with %d keys", got.delegation, len(got.keys))
	}
	for id, k := range kb.keys {
		if !bytes.Equal(got.keys[id].Bytes(), k.Bytes()) {
			t.Fatalf("key of %s differs", id)
		}
	}
}

func TestKeyBundleRefusals(t *testing.T) {
	good, _ := testBundle(t, 2).marshal()
	head := len(bundleMagic) + 32 + 4
	dup := append([]byte(nil), good...)
	copy(dup[head+bundleEntry:], dup[head:head+32])
	zero := append([]byte(nil), good...)
	clear(zero[head+32 : head+bundleEntry])
	for name, b := range map[string][]byte{
		"empty":       nil,
		"magic":       append([]byte("rrec-key-bundle/v2\n"), good[len(bundleMagic):]...),
		"short":       good[:len(good)-1],
		"trailing":    append(good[:len(good):len(good)], 0),
		"count":       append(append(good[:head-4:head-4], 0xff, 0xff, 0xff, 0xff), good[head:]...),
		"twice":       dup,
		"zero scalar": zero,
	} {
		if _, err := parseKeyBundle(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzKeyBundle(f *testing.F) {
	good, _ := testBundle(f, 2).marshal()
	f.Add(good)
	f.Add([]byte(bundleMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		kb, err := parseKeyBundle(b)
		if err != nil {
			return
		}
		again, err := kb.marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted bytes do not round-trip")
		}
	})
}
