package protocol_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

func TestStreamBodiesValidate(t *testing.T) {
	owner := protocoltest.NewAccount(testChain)
	capsule, dk := protocoltest.Capsule()
	good := func() *protocol.StreamAppend {
		return &protocol.StreamAppend{Stream: protocol.ID{1}, Epoch: 2_833_334, Capsule: capsule, CID: []byte("bafkreichunk"),
			Size: 4096, First: 1_700_000_400_000_000_000, Last: 1_700_000_401_000_000_000, Count: 2}
	}
	if _, err := protocol.DecodeTx(owner.Next(good())); err != nil {
		t.Fatalf("a good append: %v", err)
	}
	for name, bad := range map[string]func(*protocol.StreamAppend){
		"last before first":    func(b *protocol.StreamAppend) { b.Last = b.First - 1 },
		"negative time":        func(b *protocol.StreamAppend) { b.First = -1 },
		"no entry":             func(b *protocol.StreamAppend) { b.Count = 0 },
		"one entry, two times": func(b *protocol.StreamAppend) { b.Count = 1 },
		"bad capsule":          func(b *protocol.StreamAppend) { b.Capsule[3] ^= 1 },
		"no cid":               func(b *protocol.StreamAppend) { b.CID = nil },
		"negative epoch":       func(b *protocol.StreamAppend) { b.Epoch = -1 },
	} {
		b := good()
		bad(b)
		if _, err := protocol.DecodeTx(owner.Next(b)); !errors.Is(err, protocol.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	for _, e := range []uint32{0, 59, 7 * 60, 86400 * 2, 1000} {
		if _, err := protocol.DecodeTx(owner.Next(&protocol.StreamCreate{Epoch: e, DelegatingKey: dk})); !errors.Is(err, protocol.ErrInvalid) {
			t.Errorf("epoch %d s: %v, want invalid", e, err)
		}
	}
	for _, e := range []uint32{60, 600, 3600, 86400} {
		if _, err := protocol.DecodeTx(owner.Next(&protocol.StreamCreate{Epoch: e, DelegatingKey: dk})); err != nil {
			t.Errorf("epoch %d s: %v", e, err)
		}
	}
	g := protocoltest.Grant(protocol.ID{1}, owner.Key, []protocol.PubKey{owner.Key}, 0)
	for _, w := range [][2]int64{{-1, 0}, {5, 5}, {6, 5}} {
		if _, err := protocol.DecodeTx(owner.Next(&protocol.StreamGrant{Grant: *g, From: w[0], Until: w[1]})); !errors.Is(err, protocol.ErrInvalid) {
			t.Errorf("window %v: %v, want invalid", w, err)
		}
	}
}

func TestStreamRekeyValidates(t *testing.T) {
	owner := protocoltest.NewAccount(testChain)
	_, dk := protocoltest.Capsule()
	good := func() *protocol.StreamRekey {
		return &protocol.StreamRekey{Stream: protocol.ID{1}, Generation: 1, DelegatingKey: dk, FirstEpoch: 2_833_335}
	}
	if _, err := protocol.DecodeTx(owner.Next(good())); err != nil {
		t.Fatalf("a good rekey: %v", err)
	}
	for name, bad := range map[string]func(*protocol.StreamRekey){
		"generation 0":        func(b *protocol.StreamRekey) { b.Generation = 0 },
		"too many":            func(b *protocol.StreamRekey) { b.Generation = protocol.MaxStreamGenerations },
		"negative epoch":      func(b *protocol.StreamRekey) { b.FirstEpoch = -1 },
		"epoch past int64 ns": func(b *protocol.StreamRekey) { b.FirstEpoch = 1 << 62 },
		"key not a point":     func(b *protocol.StreamRekey) { b.DelegatingKey = protocol.PubKey{2} },
	} {
		b := good()
		bad(b)
		if _, err := protocol.DecodeTx(owner.Next(b)); !errors.Is(err, protocol.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestGenerationOf(t *testing.T) {
	gens := []protocol.StreamGeneration{{Generation: 0}, {Generation: 1, FirstEpoch: 10}, {Generation: 2, FirstEpoch: 10}, {Generation: 3, FirstEpoch: 12}}
	for e, want := range map[int64]uint32{0: 0, 9: 0, 10: 2, 11: 2, 12: 3, 1 << 40: 3} {
		if g, ok := protocol.GenerationOf(gens, e); !ok || g.Generation != want {
			t.Errorf("epoch %d: generation %d (%v), want %d", e, g.Generation, ok, want)
		}
	}
	if _, ok := protocol.GenerationOf(nil, 0); ok {
		t.Error("a generation of no generations")
	}
}

func TestCovers(t *testing.T) {
	const epoch = 600
	h := int64(time.Hour)
	tue9 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC).UnixNano()
	e9 := protocol.EpochOf(tue9, epoch)
	cases := []struct {
		from, until, e int64
		want           bool
	}{
		{tue9, tue9 + 8*h, e9, true},           // first epoch of the window
		{tue9, tue9 + 8*h, e9 + 47, true},      // the last: 16:50–17:00
		{tue9, tue9 + 8*h, e9 + 48, false},     // 17:00, later
		{tue9, tue9 + 8*h, e9 - 1, false},      // 08:50, earlier
		{tue9 + 1, tue9 + 8*h, e9, false},      // partly inside
		{tue9, tue9 + 8*h - 1, e9 + 47, false}, // partly inside
		{tue9, 0, e9 + 1_000_000, true},        // open-ended
		{0, 0, 1 << 62, false},                 // past int64 time
	}
	for _, c := range cases {
		if got := protocol.Covers(c.from, c.until, c.e, epoch); got != c.want {
			t.Errorf("Covers(%d, %d, epoch %d) = %v, want %v", c.from, c.until, c.e, got, c.want)
		}
	}
}

func TestStreamStateRoundTrip(t *testing.T) {
	s := protocol.StreamState{ID: protocol.ID{1}, Owner: protocol.PubKey{2, 3}, Epoch: 600, Label: protocol.Hash32{4},
		DelegatingKey: protocol.PubKey{2, 5}, Height: 7, Time: 8, TxHash: protocol.Hash32{9}, Last: 10, Chunks: 11, Bytes: 12, ErasedHeight: 13}
	b, _ := s.MarshalBinary()
	var back protocol.StreamState
	if err := back.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if err := back.UnmarshalBinary(b[:len(b)-1]); err == nil {
		t.Fatal("a truncated stream decoded")
	}
	// Generations are a query's addition: the stream's encoding is the same with or without.
	s.Generations = []protocol.StreamGeneration{{Generation: 1, FirstEpoch: 2}}
	if b2, _ := s.MarshalBinary(); string(b2) != string(b) {
		t.Fatal("generations changed a stream's encoding")
	}
	gen := protocol.StreamGeneration{Generation: 3, DelegatingKey: protocol.PubKey{2, 9}, FirstEpoch: 2_833_335, Height: 40}
	gb, _ := gen.MarshalBinary()
	var gback protocol.StreamGeneration
	if err := gback.UnmarshalBinary(gb); err != nil || gback != gen {
		t.Fatalf("generation round trip: %+v, %v", gback, err)
	}
	if err := gback.UnmarshalBinary(append(gb, 0)); err == nil {
		t.Fatal("a generation with a trailing byte decoded")
	}
	c := protocol.StreamChunk{Epoch: 5, Record: protocol.ID{6}, CID: protocol.CIDText("bafk"), Size: 7, First: 8, Last: 9, Count: 2}
	cb, _ := c.MarshalBinary()
	var cback protocol.StreamChunk
	if err := cback.UnmarshalBinary(cb); err != nil || cback.Epoch != 5 || string(cback.CID) != "bafk" || cback.Count != 2 {
		t.Fatalf("chunk round trip: %+v, %v", cback, err)
	}
}

// FuzzStreamValues: the stream values decode without panicking, refuse as malformed, and
// re-encode to the bytes they decoded from.
func FuzzStreamValues(f *testing.F) {
	s := protocol.StreamState{ID: protocol.ID{1}, Epoch: 600, Last: 10, Chunks: 2}
	c := protocol.StreamChunk{Epoch: 5, CID: protocol.CIDText("bafk"), Count: 2}
	sb, _ := s.MarshalBinary()
	cb, _ := c.MarshalBinary()
	g := protocol.StreamGeneration{Generation: 1, FirstEpoch: 2_833_335, Height: 9}
	gb, _ := g.MarshalBinary()
	f.Add(uint8(0), sb)
	f.Add(uint8(1), cb)
	f.Add(uint8(2), gb)
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		var v interface {
			UnmarshalBinary([]byte) error
			MarshalBinary() ([]byte, error)
		}
		switch kind % 3 {
		case 0:
			v = new(protocol.StreamState)
		case 1:
			v = new(protocol.StreamChunk)
		default:
			v = new(protocol.StreamGeneration)
		}
		if err := v.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("refusal is not malformed: %v", err)
			}
			return
		}
		again, err := v.MarshalBinary()
		if err != nil || string(again) != string(b) {
			t.Fatalf("re-encoding differs: %x, %v", again, err)
		}
	})
}
