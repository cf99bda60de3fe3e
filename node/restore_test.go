package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// TestSnapshotTamperedAndForged: restores from peers that change a chunk, and from peers that
// forge a whole snapshot, metadata included; offers that are refused; a restore cut short.
func TestSnapshotTamperedAndForged(t *testing.T) {
	smallChunks(t, 600)
	c := newChain(t, AppOptions{SnapshotDir: t.TempDir(), Snapshots: SnapshotSettings{Interval: 3}})
	for range 3 {
		c.block()
	}
	s := waitSnapshot(t, c.a, 3)
	chunks := chunksOf(t, c.a, s)
	trusted := c.hashes[3]

	t.Run("a tampered chunk is fetched again from another peer", func(t *testing.T) {
		b, _ := emptyApp(t)
		if got := offer(t, b, s, trusted); got != abci.ResponseOfferSnapshot_ACCEPT {
			t.Fatalf("offer: %v", got)
		}
		apply(t, b, 0, chunks[0], "honest")
		bad := bytes.Clone(chunks[1])
		bad[len(bad)-1] ^= 1
		r := apply(t, b, 1, bad, "liar")
		if r.Result != abci.ResponseApplySnapshotChunk_RETRY || !slices.Equal(r.RefetchChunks, []uint32{1}) || !slices.Equal(r.RejectSenders, []string{"liar"}) {
			t.Fatalf("tampered chunk: %+v", r)
		}
		if r := apply(t, b, 1, append(bytes.Clone(chunks[1]), 0), "liar2"); r.Result != abci.ResponseApplySnapshotChunk_RETRY {
			t.Fatalf("a longer chunk: %+v", r)
		}
		for i := 1; i < len(chunks); i++ {
			if r := apply(t, b, uint32(i), chunks[i], "honest"); r.Result != abci.ResponseApplySnapshotChunk_ACCEPT {
				t.Fatalf("chunk %d: %+v", i, r)
			}
		}
		if info, _ := b.Info(context.Background(), &abci.RequestInfo{}); !bytes.Equal(info.LastBlockAppHash, trusted) {
			t.Fatal("not restored")
		}
	})

	// A forger who controls the metadata too makes chunks that match it: the restore
	// notices at the end (or at the malformed chunk) and rejects all who sent any of it.
	forge := func(t *testing.T, edit func(entries [][2][]byte) [][2][]byte) (*abci.Snapshot, [][]byte) {
		var entries [][2][]byte
		var after []byte
		for _, ch := range chunks {
			var err error
			after, err = decodeChunk(ch, after, func(k, v []byte) error {
				entries = append(entries, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		entries = edit(entries)
		m, _ := decodeSnapshotMeta(s.Metadata, s.Chunks)
		m.chunks, m.entries = nil, uint64(len(entries))
		var out [][]byte
		for i := 0; i < len(entries); i += 5 {
			var ch []byte
			for _, e := range entries[i:min(i+5, len(entries))] {
				ch = rawEntry(ch, e[0], e[1])
			}
			out = append(out, ch)
			m.chunks = append(m.chunks, sha256.Sum256(ch))
		}
		meta := m.encode()
		n := uint32(len(out))
		return &abci.Snapshot{Height: s.Height, Format: snapshotFormat, Chunks: n, Metadata: meta, Hash: snapshotHash(s.Height, n, meta)}, out
	}
	restoreForged := func(t *testing.T, fs *abci.Snapshot, fc [][]byte) (*App, string, *abci.ResponseApplySnapshotChunk) {
		b, dir := emptyApp(t)
		if got := offer(t, b, fs, trusted); got != abci.ResponseOfferSnapshot_ACCEPT {
			t.Fatalf("offer: %v", got)
		}
		for i, ch := range fc {
			r := apply(t, b, uint32(i), ch, fmt.Sprintf("peer%d", i%2))
			if r.Result != abci.ResponseApplySnapshotChunk_ACCEPT {
				return b, dir, r
			}
		}
		t.Fatal("a forged snapshot was restored")
		return nil, "", nil
	}
	for _, tc := range []struct {
		name string
		edit func([][2][]byte) [][2][]byte
	}{
		{"a value changed", func(es [][2][]byte) [][2][]byte { es[len(es)/2][1] = append(es[len(es)/2][1], 1); return es }},
		{"a pair left out", func(es [][2][]byte) [][2][]byte { return append(es[:3], es[4:]...) }},
		{"a pair repeated", func(es [][2][]byte) [][2][]byte { return slices.Insert(es, 3, es[3]) }},
		{"keys out of order", func(es [][2][]byte) [][2][]byte { es[2], es[3] = es[3], es[2]; return es }},
		{"a key of the application's", func(es [][2][]byte) [][2][]byte {
			return slices.Insert(es, 0, [2][]byte{{0x00, 'h'}, u64b(99)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, fc := forge(t, tc.edit)
			b, dir, r := restoreForged(t, fs, fc)
			if r.Result != abci.ResponseApplySnapshotChunk_REJECT_SNAPSHOT || len(r.RejectSenders) == 0 {
				t.Fatalf("forged snapshot: %+v", r)
			}
			if info, _ := b.Info(context.Background(), &abci.RequestInfo{}); info.LastBlockHeight != 0 || len(info.LastBlockAppHash) != 0 {
				t.Fatalf("a rejected snapshot left state: %+v", info)
			}
			assertEmptyDB(t, b)
			// The honest snapshot restores into the same App afterwards.
			if got := offer(t, b, s, trusted); got != abci.ResponseOfferSnapshot_ACCEPT {
				t.Fatalf("offer: %v", got)
			}
			for i, ch := range chunks {
				apply(t, b, uint32(i), ch, "honest")
			}
			if info, _ := b.Info(context.Background(), &abci.RequestInfo{}); !bytes.Equal(info.LastBlockAppHash, trusted) {
				t.Fatal("honest snapshot not restored after a forged one")
			}
			_ = dir
		})
	}

	t.Run("refused offers", func(t *testing.T) {
		b, _ := emptyApp(t)
		bad := func(edit func(s *abci.Snapshot) []byte) abci.ResponseOfferSnapshot_Result {
			cp := *s
			cp.Metadata = bytes.Clone(s.Metadata)
			hash := edit(&cp)
			return offer(t, b, &cp, hash)
		}
		cases := map[string]struct {
			edit func(s *abci.Snapshot) []byte
			want abci.ResponseOfferSnapshot_Result
		}{
			"another format":      {func(s *abci.Snapshot) []byte { s.Format = 2; return trusted }, abci.ResponseOfferSnapshot_REJECT_FORMAT},
			"height 0":            {func(s *abci.Snapshot) []byte { s.Height = 0; return trusted }, abci.ResponseOfferSnapshot_REJECT},
			"metadata cut":        {func(s *abci.Snapshot) []byte { s.Metadata = s.Metadata[:len(s.Metadata)-1]; return trusted }, abci.ResponseOfferSnapshot_REJECT},
			"a chunk more":        {func(s *abci.Snapshot) []byte { s.Chunks++; return trusted }, abci.ResponseOfferSnapshot_REJECT},
			"no chunks":           {func(s *abci.Snapshot) []byte { s.Chunks, s.Metadata = 0, s.Metadata[:16]; return trusted }, abci.ResponseOfferSnapshot_REJECT},
			"hash not the meta's": {func(s *abci.Snapshot) []byte { s.Metadata[0] ^= 1; return trusted }, abci.ResponseOfferSnapshot_REJECT},
			"short app hash":      {func(s *abci.Snapshot) []byte { return trusted[:31] }, abci.ResponseOfferSnapshot_REJECT},
		}
		for name, tc := range cases {
			if got := bad(tc.edit); got != tc.want {
				t.Errorf("%s: %v, want %v", name, got, tc.want)
			}
		}
		if r, _ := b.OfferSnapshot(context.Background(), &abci.RequestOfferSnapshot{AppHash: trusted}); r.Result != abci.ResponseOfferSnapshot_REJECT {
			t.Errorf("no snapshot: %v", r.Result)
		}
		// An App with state is never restored over.
		if got := offer(t, c.a, s, trusted); got != abci.ResponseOfferSnapshot_ABORT {
			t.Errorf("offer to an App with state: %v", got)
		}
		if r := apply(t, b, 0, chunks[0], "x"); r.Result != abci.ResponseApplySnapshotChunk_ABORT {
			t.Errorf("a chunk with no restore under way: %v", r.Result)
		}
	})

	t.Run("a restore cut short is deleted at the next open", func(t *testing.T) {
		b, dir := emptyApp(t)
		offer(t, b, s, trusted)
		apply(t, b, 0, chunks[0], "honest")
		if r := apply(t, b, 2, chunks[2], "honest"); r.Result != abci.ResponseApplySnapshotChunk_RETRY_SNAPSHOT {
			t.Fatalf("a chunk out of order: %v", r.Result)
		}
		b.Close()
		b2, err := OpenApp(dir, AppOptions{ChainID: testChain})
		if err != nil {
			t.Fatal(err)
		}
		defer b2.Close()
		assertEmptyDB(t, b2)
	})
}

func rawEntry(b, k, v []byte) []byte {
	b = append(b, byte(len(k)>>24), byte(len(k)>>16), byte(len(k)>>8), byte(len(k)))
	b = append(b, k...)
	b = append(b, byte(len(v)>>24), byte(len(v)>>16), byte(len(v)>>8), byte(len(v)))
	return append(b, v...)
}

func assertEmptyDB(t *testing.T, a *App) {
	t.Helper()
	it := a.db.NewIterator(nil, nil)
	defer it.Release()
	if it.Next() {
		t.Fatalf("database not empty: key %x", it.Key())
	}
}
