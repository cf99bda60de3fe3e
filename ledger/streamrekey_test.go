package ledger

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// wrote says whether block x wrote key k.
func wrote(x *Executed, k []byte) bool {
	for _, w := range x.Writes {
		if bytes.Equal(w.Key, k) {
			return true
		}
	}
	return false
}

// TestStreamRekey: generations follow one another, each from an epoch after the last chunk,
// the owner's alone; a grant is of the generation current at its commit, a chunk's record
// under its epoch's generation's key; a stream never rekeyed is stored as before.
func TestStreamRekey(t *testing.T) {
	m := newMachine(t, 0)
	owner, insurer, carer := m.account(), m.account(), m.account()
	s, k0 := m.createStream(owner)
	e := protocol.EpochOf(tue9, tenMin)
	sec := int64(time.Second)
	c0, _ := protocoltest.Capsule()
	m.ok(owner, chunk(s, c0, tue9, tue9+10*sec, "bafy-r0"))

	g0 := owner.GrantID()
	x := m.ok(owner, &protocol.StreamGrant{Grant: *m.grantBody(s, insurer, 0), From: tue9})
	if wrote(x, streamKey('v', g0[:])) || wrote(x, streamKey('n', s[:])) {
		t.Fatal("a grant of generation 0 wrote generation state: streams never rekeyed must be stored as before")
	}

	_, k1 := protocoltest.Capsule()
	rekey := func(gen uint32, k protocol.PubKey, first int64) *protocol.StreamRekey {
		return &protocol.StreamRekey{Stream: s, Generation: gen, DelegatingKey: k, FirstEpoch: first}
	}
	m.spends(protocol.ErrUnauthorized, insurer, rekey(1, k1, e+1))
	m.spends(protocol.ErrStreamOrder, owner, rekey(2, k1, e+1))
	m.spends(protocol.ErrStreamEpoch, owner, rekey(1, k1, e)) // the last chunk's epoch
	m.spends(protocol.ErrStreamEpoch, owner, rekey(1, k1, e-5))
	m.spends(protocol.ErrInvalid, owner, rekey(1, k0, e+1)) // generation 0's key again
	m.ok(owner, rekey(1, k1, e+1))
	m.spends(protocol.ErrStreamOrder, owner, rekey(1, k1, e+2)) // generation 1 exists

	g1 := owner.GrantID()
	m.ok(owner, &protocol.StreamGrant{Grant: *m.grantBody(s, carer, 0), From: tue9})
	snap := m.snapshot()
	for id, want := range map[protocol.ID]uint32{g0: 0, g1: 1} {
		if sg, err := snap.StreamGrant(id); err != nil || sg.Generation != want {
			t.Fatalf("grant %s: generation %+v, %v; want %d", id, sg, err, want)
		}
	}

	// Generation 2 from the same epoch as 1 (nothing appended between): 1 keeps no epoch.
	_, k2 := protocoltest.Capsule()
	m.spends(protocol.ErrStreamEpoch, owner, rekey(2, k2, e)) // before generation 1's first epoch
	m.spends(protocol.ErrInvalid, owner, rekey(2, k1, e+1))
	m.ok(owner, rekey(2, k2, e+1))

	// The rest of the last chunk's epoch is still generation 0's; later epochs are 2's.
	c0b := chunk(s, c0, tue9+20*sec, tue9+30*sec, "bafy-r0b")
	m.ok(owner, c0b)
	c2, _ := protocoltest.Capsule()
	m.ok(owner, chunk(s, c2, tue9+600*sec, tue9+601*sec, "bafy-r2"))
	snap = m.snapshot()
	chunks, _ := snap.StreamChunks(s, 0, 0)
	for i, want := range []protocol.PubKey{k0, k0, k2} {
		if rec, err := snap.Record(chunks.Items[i].Record); err != nil || rec.DelegatingKey != want {
			t.Fatalf("chunk %d of epoch %d: record %+v, %v; want it under generation key %x", i, chunks.Items[i].Epoch, rec, err, want)
		}
	}
	m.spends(protocol.ErrStreamEpoch, owner, rekey(3, k1, e+1)) // epoch e+1 has a chunk now

	gens, err := snap.StreamGenerations(s)
	if err != nil || len(gens) != 3 || gens[0].DelegatingKey != k0 || gens[0].FirstEpoch != 0 ||
		gens[1].FirstEpoch != e+1 || gens[2].DelegatingKey != k2 || gens[2].Generation != 2 || gens[2].Height == 0 {
		t.Fatalf("generations %+v, %v", gens, err)
	}
	answer, err := snap.Query("/stream/" + s.String())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(answer)
	var st protocol.StreamState
	if err := json.Unmarshal(raw, &st); err != nil || len(st.Generations) != 3 || st.Generations[2].DelegatingKey != k2 {
		t.Fatalf("/stream answers generations %+v, %v", st.Generations, err)
	}
	page, err := snap.StreamGrantsOf(s, 0, 0)
	if err != nil || len(page.Items) != 2 || page.Items[1].Generation != 1 || page.Items[1].Grant.ID != g1 {
		t.Fatalf("the stream's grants %+v, %v", page, err)
	}
	if _, err := snap.Query("/stream-grants/stream/" + s.String()); err != nil {
		t.Fatal(err)
	}

	m.ok(owner, &protocol.StreamErase{Stream: s})
	_, k3 := protocoltest.Capsule()
	m.spends(protocol.ErrStreamErased, owner, rekey(3, k3, e+5))
}
