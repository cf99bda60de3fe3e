package ledger

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// tue9 is Tuesday 2026-03-10 09:00 UTC, an epoch boundary of 10-minute epochs.
var tue9 = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC).UnixNano()

const tenMin = 600

func (m *machine) createStream(owner *protocoltest.Account) (protocol.ID, protocol.PubKey) {
	m.t.Helper()
	_, dk := protocoltest.Capsule()
	id := protocol.StreamID(testChain, owner.Key, owner.Seq)
	m.ok(owner, &protocol.StreamCreate{Epoch: tenMin, Label: protocol.Hash32{7}, DelegatingKey: dk})
	return id, dk
}

// chunk is an append of entries first..last (unix ns) under capsule c.
func chunk(stream protocol.ID, c protocol.CapsuleBytes, first, last int64, cid string) *protocol.StreamAppend {
	return &protocol.StreamAppend{Stream: stream, Epoch: protocol.EpochOf(first, tenMin), Capsule: c, CID: []byte(cid),
		Size: 100, First: first, Last: last, Count: 2}
}

func TestStreamAppendRules(t *testing.T) {
	m := newMachine(t, 0)
	owner, other := m.account(), m.account()
	s, _ := m.createStream(owner)
	c1, _ := protocoltest.Capsule()
	c2, _ := protocoltest.Capsule()
	sec := int64(time.Second)

	x := m.ok(owner, chunk(s, c1, tue9, tue9+10*sec, "bafy-c1"))
	if len(x.Commit.Put) != 1 {
		t.Fatalf("an append put %d records for the blob service, want 1", len(x.Commit.Put))
	}
	m.spends(protocol.ErrUnauthorized, other, chunk(s, c1, tue9+20*sec, tue9+30*sec, "bafy-other"))
	m.spends(protocol.ErrStreamOrder, owner, chunk(s, c1, tue9+5*sec, tue9+30*sec, "bafy-early"))
	m.spends(protocol.ErrStreamEpoch, owner, chunk(s, c2, tue9+20*sec, tue9+30*sec, "bafy-capsule"))
	// Entries of two epochs in one chunk.
	m.spends(protocol.ErrStreamEpoch, owner, chunk(s, c1, tue9+590*sec, tue9+610*sec, "bafy-span"))
	// The epoch a chunk names must be its entries'.
	wrong := chunk(s, c1, tue9+20*sec, tue9+30*sec, "bafy-wrong")
	wrong.Epoch++
	m.spends(protocol.ErrStreamEpoch, owner, wrong)
	m.ok(owner, chunk(s, c1, tue9+10*sec, tue9+30*sec, "bafy-c1b"))  // equal to the last time: allowed
	m.ok(owner, chunk(s, c2, tue9+600*sec, tue9+601*sec, "bafy-c2")) // the next epoch commits its own capsule

	snap := m.snapshot()
	st, err := snap.Stream(s)
	if err != nil || st.Chunks != 3 || st.Last != tue9+601*sec || st.Bytes != 300 {
		t.Fatalf("stream %+v, %v", st, err)
	}
	if e, ok, _ := snap.EpochOfCapsule(s, c2); !ok || e != protocol.EpochOf(tue9, tenMin)+1 {
		t.Fatalf("capsule 2 is of epoch %d (%v)", e, ok)
	}
	chunks, err := snap.StreamChunks(s, 0, 0)
	if err != nil || len(chunks.Items) != 3 {
		t.Fatalf("chunks %+v, %v", chunks, err)
	}
	// A chunk is a record of the owner's, under the stream's key, out of the owner's list.
	rec, err := snap.Record(chunks.Items[0].Record)
	if err != nil || rec.Owner != owner.Key || rec.Capsule != c1 || rec.DelegatingKey != st.DelegatingKey {
		t.Fatalf("chunk record %+v, %v", rec, err)
	}
	if p, _ := snap.RecordsOf(owner.Key, 0, 0); len(p.Items) != 0 {
		t.Fatalf("the owner's records list %d chunks", len(p.Items))
	}
	// A chunk is granted and erased only with its stream.
	m.spends(protocol.ErrUnauthorized, owner, m.grantBody(rec.ID, other, 0))
	m.spends(protocol.ErrUnauthorized, owner, &protocol.EraseRecord{Record: rec.ID})
}

func TestStreamGrantRevokeErase(t *testing.T) {
	m := newMachine(t, 0)
	owner, insurer := m.account(), m.account()
	s, _ := m.createStream(owner)
	c1, _ := protocoltest.Capsule()
	m.ok(owner, chunk(s, c1, tue9, tue9+int64(time.Second), "bafy-g1"))

	g := m.grantBody(s, insurer, 0)
	m.spends(protocol.ErrNotFound, owner, &protocol.StreamGrant{Grant: *m.grantBody(protocol.ID{9}, insurer, 0), From: tue9})
	m.spends(protocol.ErrUnauthorized, insurer, &protocol.StreamGrant{Grant: *g, From: tue9})
	// An ordinary grant cannot name a stream.
	m.spends(protocol.ErrNotFound, owner, g)
	gid := owner.GrantID()
	m.ok(owner, &protocol.StreamGrant{Grant: *g, From: tue9, Until: tue9 + int64(8*time.Hour)})
	snap := m.snapshot()
	sg, err := snap.StreamGrant(gid)
	if err != nil || sg.From != tue9 || sg.Until != tue9+int64(8*time.Hour) || sg.Grant.Record != s {
		t.Fatalf("stream grant %+v, %v", sg, err)
	}
	if p, _ := snap.StreamGrantsTo(insurer.Key, 0, 0); len(p.Items) != 1 {
		t.Fatalf("%d stream grants to the insurer", len(p.Items))
	}
	if p, _ := snap.GrantsTo(insurer.Key, 0, 0); len(p.Items) != 0 {
		t.Fatal("a stream grant is among the recipient's record grants")
	}
	// The recipient requests access as for a record; the request is in the stream's log.
	m.ok(insurer, &protocol.RequestAccess{Grant: gid, Purpose: "claim"})
	if e := m.lastEntry(s); e.Kind != protocol.AuditRequest || *e.Grant != gid {
		t.Fatalf("last entry of the stream's log: %+v", e)
	}
	x := m.ok(owner, &protocol.Revoke{Grant: gid})
	if !slices.Equal(x.Commit.Revoked, []protocol.ID{gid}) {
		t.Fatalf("revoked %v", x.Commit.Revoked)
	}
	m.spends(protocol.ErrGrantRevoked, insurer, &protocol.RequestAccess{Grant: gid, Purpose: "again"})

	// Erasure: every grant ends, every chunk is tombstoned, nothing more is appended.
	open := owner.GrantID()
	m.ok(owner, &protocol.StreamGrant{Grant: *g, From: tue9})
	c2, _ := protocoltest.Capsule()
	m.ok(owner, chunk(s, c2, tue9+int64(time.Hour), tue9+int64(time.Hour)+1, "bafy-g2"))
	m.spends(protocol.ErrUnauthorized, insurer, &protocol.StreamErase{Stream: s})
	x = m.ok(owner, &protocol.StreamErase{Stream: s})
	if !slices.Equal(x.Commit.Revoked, []protocol.ID{open}) || len(x.Commit.Erased) != 2 {
		t.Fatalf("erase revoked %v, erased %v", x.Commit.Revoked, x.Commit.Erased)
	}
	snap = m.snapshot()
	for _, e := range x.Commit.Erased {
		if ts, _ := snap.Tombstone(e.Record); ts == nil {
			t.Fatalf("chunk %s has no tombstone", e.Record)
		}
		if r, _ := snap.Record(e.Record); r.Capsule != (protocol.CapsuleBytes{}) {
			t.Fatal("an erased chunk keeps its capsule in state")
		}
	}
	if e := m.lastEntry(s); e.Kind != protocol.AuditStreamErase {
		t.Fatalf("last entry %+v", e)
	}
	a, _ := snap.Account(owner.Key)
	if a.Usage.Bytes != 0 || a.Usage.Records != 0 || a.Usage.Grants != 0 {
		t.Fatalf("usage after erasure %+v", a.Usage)
	}
	c3, _ := protocoltest.Capsule()
	m.spends(protocol.ErrStreamErased, owner, chunk(s, c3, tue9+int64(2*time.Hour), tue9+int64(2*time.Hour)+1, "bafy-g3"))
	m.spends(protocol.ErrStreamErased, owner, &protocol.StreamGrant{Grant: *g, From: tue9})
	if _, err := snap.Query(fmt.Sprintf("/stream-grant/%s", gid)); err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Query("/stream/" + s.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := snap.StreamGrant(protocol.ID{1}); !errors.Is(err, protocol.ErrNotFound) {
		t.Fatalf("no such stream grant: %v", err)
	}
}

// TestSuccessorErasesStream: after a rotation the retired key can no longer append to its
// streams; its successor revokes their grants and erases them, for the old key.
func TestSuccessorErasesStream(t *testing.T) {
	m := newMachine(t, 0)
	owner, insurer, eve := m.account(), m.account(), m.account()
	s, _ := m.createStream(owner)
	c1, _ := protocoltest.Capsule()
	m.ok(owner, chunk(s, c1, tue9, tue9+int64(time.Second), "bafy-s1"))
	gid := owner.GrantID()
	m.ok(owner, &protocol.StreamGrant{Grant: *m.grantBody(s, insurer, 0), From: tue9})
	next := m.rotate(owner)

	m.spends(protocol.ErrUnauthorized, eve, &protocol.StreamErase{Stream: s})
	x := m.ok(next, &protocol.StreamErase{Stream: s})
	if !slices.Equal(x.Commit.Revoked, []protocol.ID{gid}) || len(x.Commit.Erased) != 1 {
		t.Fatalf("the successor's erase revoked %v, erased %v", x.Commit.Revoked, x.Commit.Erased)
	}
	if e := m.lastEntry(s); e.Kind != protocol.AuditStreamErase || *e.Actor != next.Key || e.For == nil || *e.For != owner.Key {
		t.Fatalf("audit of the successor's stream erase: %+v", e)
	}
	m.spends(protocol.ErrStreamErased, next, &protocol.StreamErase{Stream: s})
}
